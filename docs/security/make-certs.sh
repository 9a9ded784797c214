#!/bin/sh
# Makes the certificates of a pier cluster: one CA, then one certificate per node, valid both as
# a server (the node's listeners) and as a client (the routes it dials), since a route is both.
# POSIX sh and the openssl command line only. docs/security.md explains the layout; the test
# broker/tests/security.rs runs this very script, so the documented commands are the tested ones.
#
#   make-certs.sh ca DIR                     DIR/ca.pem, DIR/ca-key.pem (refuses to replace them)
#   make-certs.sh node DIR NAME SAN [SAN...] DIR/NAME.pem, DIR/NAME-key.pem, signed by DIR's CA;
#                                            each SAN an IPv4/IPv6 address or a DNS name
#
# Keys are written mode 0600, certificates 0644, a new DIR 0700. A node's files are written
# beside and renamed into place, so running `node` again for a name is a certificate rotation: a
# new key, a new random serial, the same CA. DAYS sets the validity (CA 3650 days, nodes 825 by
# default).
set -eu

usage() {
    echo "usage: $0 ca DIR | $0 node DIR NAME SAN [SAN...]" >&2
    exit 2
}

fail() {
    echo "$0: $*" >&2
    exit 1
}

command -v openssl >/dev/null 2>&1 || fail "openssl is not installed"

# A 128-bit random serial: openssl encodes it as a positive number of at most 17 octets, within
# RFC 5280's 20.
serial() {
    echo "0x$(openssl rand -hex 16)"
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2
# Keys are born private: nothing is ever group- or world-readable, not even for a moment.
umask 077
mkdir -p "$dir"
work="$dir/.make-certs.$$"
mkdir "$work" || fail "cannot create $work"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' HUP INT TERM

case $command in
ca)
    [ $# -eq 0 ] || usage
    if [ -e "$dir/ca.pem" ] || [ -e "$dir/ca-key.pem" ]; then
        fail "$dir already holds a CA; remove ca.pem and ca-key.pem first to make a new one"
    fi
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$work/ca-key.pem" -out "$work/ca.pem" -days "${DAYS:-3650}" \
        -subj "/CN=pier cluster CA" -set_serial "$(serial)" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$work/log" ||
        fail "openssl could not make the CA: $(cat "$work/log")"
    chmod 0644 "$work/ca.pem"
    mv "$work/ca-key.pem" "$dir/ca-key.pem"
    mv "$work/ca.pem" "$dir/ca.pem"
    echo "$dir/ca.pem"
    ;;
node)
    [ $# -ge 2 ] || usage
    name=$1
    shift
    case $name in
    '' | *[!A-Za-z0-9._-]*) fail "node name '$name': letters, digits, '.', '_' and '-' only" ;;
    esac
    [ -f "$dir/ca.pem" ] && [ -f "$dir/ca-key.pem" ] || fail "no CA in $dir: run '$0 ca $dir' first"
    sans=
    for san in "$@"; do
        case $san in
        '' | *[!A-Za-z0-9.:-]*) fail "SAN '$san' is neither an address nor a DNS name" ;;
        *:*) kind=IP ;; # IPv6: a DNS name never holds ':'
        *[!0-9.]*) kind=DNS ;;
        *) kind=IP ;;
        esac
        sans="${sans:+$sans,}$kind:$san"
    done
    cat >"$work/ext" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $sans
EXT
    {
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$work/key.pem" -out "$work/req.pem" -subj "/CN=$name" &&
            openssl x509 -req -in "$work/req.pem" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
                -set_serial "$(serial)" -days "${DAYS:-825}" -extfile "$work/ext" \
                -out "$work/cert.pem"
    } 2>"$work/log" || fail "openssl could not make the certificate of $name: $(cat "$work/log")"
    chmod 0644 "$work/cert.pem"
    mv -f "$work/key.pem" "$dir/$name-key.pem"
    mv -f "$work/cert.pem" "$dir/$name.pem"
    echo "$dir/$name.pem"
    ;;
*)
    usage
    ;;
esac
