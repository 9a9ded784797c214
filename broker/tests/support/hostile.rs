//! An HTTP server on 127.0.0.1 that answers whatever a test tells it to, to stand where a
//! monitoring port should be: not nats-server, but something that took its port. Each
//! connection runs in its own thread, so a reply that never ends does not hold up the next.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to send back for one request.
pub enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// These bytes, then one more byte every `every`, forever (until the client leaves).
    Trickle { head: Vec<u8>, every: Duration },
    /// Nothing at all, holding the connection open.
    Silent,
}

impl Reply {
    /// A complete HTTP/1.1 answer with a JSON body.
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::Raw(response(
            status,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        ))
    }
}

/// An HTTP/1.1 response with a Content-Length and `Connection: close`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Whatever\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub struct HostileServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HostileServer {
    /// Listens on 127.0.0.1 (a free port); `reply` gets each request's path.
    pub fn start(reply: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, requests, reply) = (stop.clone(), requests.clone(), reply.clone());
                    std::thread::spawn(move || serve(stream, &stop, &requests, &*reply));
                }
            });
        }
        HostileServer {
            addr,
            stop,
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(
    mut stream: TcpStream,
    stop: &AtomicBool,
    requests: &Mutex<Vec<String>>,
    reply: &(dyn Fn(&str) -> Reply + Send + Sync),
) {
    let Some(path) = read_request(&mut stream) else {
        return;
    };
    if let Ok(mut r) = requests.lock() {
        r.push(path.clone());
    }
    match reply(&path) {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::Trickle { head, every } => {
            if stream.write_all(&head).is_err() {
                return;
            }
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(every);
                if stream.write_all(b" ").and_then(|_| stream.flush()).is_err() {
                    return;
                }
            }
        }
        Reply::Silent => {
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The path of the request line, once the headers are read (at most 64 KiB).
fn read_request(stream: &mut TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).map(str::to_owned)
}
