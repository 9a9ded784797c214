"""pier's Ansible collection, pier.cluster, as `ansible/collection/build` makes it: the tarball
holds ansible/'s roles and playbooks, byte for byte, and nothing else; it carries pier's version,
and CHANGELOG.md an entry for it; it installs from the file alone (no Galaxy server) into a fresh
path, from where every playbook passes its syntax check by its FQCN, with no other roles and no
ansible.cfg in reach; its galaxy.yml and meta/runtime.yml pass ansible-lint's production profile.

Needs `bash ansible/setup` (ansible-core and ansible-lint in /opt/pier-ansible), not the lab.
Without the venv the tests fail; they never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from rollout import ANSIBLE, REPO, VENV

VERSION = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]
FQCN = "pier.cluster"
# What the collection holds besides ansible/'s roles and playbooks.
METADATA = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "LICENSE", "meta/runtime.yml"}


@dataclass
class Built:
    tarball: Path
    tree: Path
    home: Path


def run(argv: list[str], cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    """argv with the Ansible venv first on PATH and none of the caller's Ansible settings; a
    failure shows the command, stdout and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}", "HOME": str(home), **env},
    )
    assert done.returncode == 0, f"{' '.join(argv)} in {cwd}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    assert (VENV / "bin" / "ansible-galaxy").exists(), f"no ansible in {VENV}: bash ansible/setup"
    out = tmp_path_factory.mktemp("collection")
    home = tmp_path_factory.mktemp("home")
    done = run([str(ANSIBLE / "collection" / "build"), "--output-path", str(out)], REPO, home)
    tarball = out / f"pier-cluster-{VERSION}.tar.gz"
    assert done.stdout.splitlines()[-1] == str(tarball), done.stdout
    return Built(tarball, out / "pier-cluster", home)


def shipped(repo_path: str) -> str | None:
    """Where a file of ansible/ goes in the collection (None: it does not ship)."""
    if repo_path.startswith("roles/"):
        return repo_path
    if repo_path.startswith("plays/"):
        return f"playbooks/{repo_path}"
    if "/" not in repo_path and repo_path.endswith(".yml"):
        return f"playbooks/{repo_path.replace('-', '_')}"
    return None


def test_the_collection_carries_piers_version(built: Built) -> None:
    with tarfile.open(built.tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        changelog = tar.extractfile("CHANGELOG.md").read().decode()
    assert f"{info['namespace']}.{info['name']}" == FQCN
    assert info["version"] == VERSION
    assert f"\n## {VERSION}\n" in changelog, f"CHANGELOG.md has no entry for {VERSION}"


def test_the_tarball_holds_the_roles_and_playbooks_and_nothing_else(built: Built) -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ANSIBLE, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    sources = {dest: ANSIBLE / path for path in tracked if (dest := shipped(path))}
    with tarfile.open(built.tarball) as tar:
        members = tar.getmembers()
        assert all(m.isfile() or m.isdir() for m in members), [m.name for m in members]
        files = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
    # Anything else (an inventory, ansible.cfg, journals, caches, editor files) is a stray.
    expected = METADATA | sources.keys()
    assert files.keys() == expected, {
        "stray": sorted(files.keys() - expected),
        "missing": sorted(expected - files.keys()),
    }
    changed = [name for name, source in sources.items() if files[name] != source.read_bytes()]
    assert not changed, f"differ from ansible/: {changed}"


def test_every_playbook_passes_its_syntax_check_by_fqcn_from_a_fresh_install(
    built: Built, tmp_path: Path
) -> None:
    fresh = tmp_path / "collections"
    run(
        [
            str(VENV / "bin" / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            str(built.tarball),
            "-p",
            str(fresh),
        ],
        tmp_path,
        built.home,
    )
    installed = fresh / "ansible_collections" / "pier" / "cluster"
    playbooks = sorted(p.stem for p in (installed / "playbooks").glob("*.yml"))
    assert playbooks == sorted(p.stem.replace("-", "_") for p in ANSIBLE.glob("*.yml"))
    # The roles can only come from the collection: no ansible.cfg, an empty roles path, and a
    # working directory without roles/.
    (tmp_path / "ansible.cfg").write_text("")
    (tmp_path / "no-roles").mkdir()
    for playbook in playbooks:
        done = run(
            [
                str(VENV / "bin" / "ansible-playbook"),
                "--syntax-check",
                "-i",
                str(ANSIBLE / "inventories" / "hk"),
                f"{FQCN}.{playbook}",
            ],
            tmp_path,
            built.home,
            ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
            ANSIBLE_ROLES_PATH=str(tmp_path / "no-roles"),
            ANSIBLE_COLLECTIONS_PATH=str(fresh),
        )
        assert f"playbook: {installed / 'playbooks' / playbook}.yml" in done.stdout, done.stdout


def test_galaxy_yml_and_runtime_pass_ansible_lint(built: Built) -> None:
    # The roles and playbooks are ansible/'s own files, which test_ansible.py lints; these two
    # exist only in the collection. `galaxy` wants the required tags, a changelog, a license, a
    # repository and meta/runtime.yml; `meta-runtime`, a supported requires_ansible.
    done = run(
        [
            str(VENV / "bin" / "ansible-lint"),
            "--offline",
            "--nocolor",
            "--profile",
            "production",
            "galaxy.yml",
            "meta/runtime.yml",
        ],
        built.tree,
        built.home,
    )
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
