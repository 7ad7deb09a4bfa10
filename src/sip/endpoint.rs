//! The I/O around [`SipCore`]: a UDP socket and a TCP listener, one task that owns the core and feeds it
//! datagrams, stream frames, commands and timeouts, and sends what it outputs.

use super::core::{CallEvent, Command, CoreConfig, Output, Peer, SipCore, Transport};
use super::message::{self, Message};
use super::registrar::Account;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Handle to the running SIP endpoint.
#[derive(Clone)]
pub struct SipHandle {
    pub commands: mpsc::UnboundedSender<Control>,
}

#[derive(Debug)]
pub enum Control {
    Command(Command),
    SetDraining(bool),
    /// Replaces the registrar's accounts (see [`SipCore::set_accounts`]).
    SetAccounts(Vec<Account>),
}

impl SipHandle {
    pub fn command(&self, c: Command) {
        // The endpoint lives as long as the process; a send error means we are shutting down anyway.
        let _ = self.commands.send(Control::Command(c));
    }

    /// Replaces the accounts agents' phones register with; takes effect for the next REGISTER.
    pub fn set_accounts(&self, accounts: Vec<Account>) {
        let _ = self.commands.send(Control::SetAccounts(accounts));
    }
}

enum Inbound {
    Frame {
        data: Vec<u8>,
        peer: Peer,
        local: SocketAddr,
    },
    Connected {
        peer: SocketAddr,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
    Closed {
        peer: SocketAddr,
    },
}

pub struct EndpointConfig {
    pub core: CoreConfig,
    /// Address to advertise in Via/Contact when bound to an unspecified address (NAT's public address).
    pub advertise_ip: Option<IpAddr>,
}

/// Binds UDP (and TCP when asked) on `bind` and runs the endpoint until `cancel`. The registrar has no
/// accounts until [`SipHandle::set_accounts`].
pub async fn start(
    bind: SocketAddr,
    tcp: bool,
    config: EndpointConfig,
    metrics: Arc<Metrics>,
    events: mpsc::UnboundedSender<CallEvent>,
    cancel: CancellationToken,
) -> std::io::Result<(SipHandle, SocketAddr)> {
    let udp = UdpSocket::bind(bind).await?;
    let bound = udp.local_addr()?;
    let listener = if tcp {
        Some(TcpListener::bind(bound).await?)
    } else {
        None
    };
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    if let Some(listener) = listener {
        tokio::spawn(accept_loop(listener, in_tx.clone(), cancel.clone()));
    }
    let endpoint = Endpoint {
        core: SipCore::new(config.core),
        udp: Arc::new(udp),
        bound,
        advertise_ip: config.advertise_ip,
        tcp: HashMap::new(),
        route_cache: HashMap::new(),
        metrics,
        events,
    };
    tokio::spawn(endpoint.run(ctl_rx, in_rx, cancel));
    info!(%bound, tcp, "SIP listening");
    Ok((SipHandle { commands: ctl_tx }, bound))
}

struct Endpoint {
    core: SipCore,
    udp: Arc<UdpSocket>,
    bound: SocketAddr,
    advertise_ip: Option<IpAddr>,
    tcp: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
    route_cache: HashMap<IpAddr, IpAddr>,
    metrics: Arc<Metrics>,
    events: mpsc::UnboundedSender<CallEvent>,
}

impl Endpoint {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut inbound: mpsc::UnboundedReceiver<Inbound>,
        cancel: CancellationToken,
    ) {
        let mut buf = vec![0u8; 65536];
        let udp = self.udp.clone();
        loop {
            let deadline = self.core.poll_timeout();
            tokio::select! {
                _ = cancel.cancelled() => break,
                r = udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let local = self.local_for(from);
                        let peer = Peer { transport: Transport::Udp, addr: from };
                        self.on_bytes(&buf[..n], peer, local);
                    }
                    // ICMP port unreachable from an earlier send surfaces here on some systems.
                    Err(e) => debug!(error = %e, "UDP receive error"),
                },
                Some(i) = inbound.recv() => match i {
                    Inbound::Frame { data, peer, local } => {
                        let local = self.advertise_ip.map(|ip| SocketAddr::new(ip, self.bound.port())).unwrap_or(local);
                        self.on_bytes(&data, peer, local)
                    }
                    Inbound::Connected { peer, writer } => { self.tcp.insert(peer, writer); }
                    Inbound::Closed { peer } => { self.tcp.remove(&peer); }
                },
                Some(c) = control.recv() => match c {
                    Control::Command(c) => self.core.handle_command(c, Instant::now()),
                    Control::SetDraining(d) => self.core.set_draining(d),
                    Control::SetAccounts(a) => self.core.set_accounts(a),
                },
                _ = sleep_until(deadline) => self.core.handle_timeout(Instant::now()),
            }
            self.flush().await;
        }
    }

    /// The address koe is reachable at from `peer`: the advertised one, the bound one, or the local
    /// address the kernel routes from (so that Contact and Via never say 0.0.0.0).
    fn local_for(&mut self, peer: SocketAddr) -> SocketAddr {
        if let Some(ip) = self.advertise_ip {
            return SocketAddr::new(ip, self.bound.port());
        }
        if !self.bound.ip().is_unspecified() {
            return self.bound;
        }
        let ip = *self
            .route_cache
            .entry(peer.ip())
            .or_insert_with(|| route_source(peer).unwrap_or(peer.ip()));
        SocketAddr::new(ip, self.bound.port())
    }

    fn on_bytes(&mut self, data: &[u8], peer: Peer, local: SocketAddr) {
        // RFC 5626 keep-alives: a CRLF pair is answered with a CRLF; bare CRLFs are ignored.
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            if data == b"\r\n\r\n" {
                self.send_raw(peer, b"\r\n".to_vec());
            }
            return;
        }
        match Message::parse(data) {
            Ok(msg) => {
                match msg.method() {
                    Some(m) => self.metrics.inc(
                        "koe_sip_requests_total",
                        "SIP requests received",
                        &[("method", m)],
                    ),
                    None => self.metrics.inc(
                        "koe_sip_responses_received_total",
                        "SIP responses received",
                        &[("code", &msg.status().unwrap_or(0).to_string())],
                    ),
                }
                debug!(from = %peer.addr, "received\n{msg}");
                self.core.handle_message(msg, peer, local, Instant::now());
            }
            Err(e) => {
                self.metrics.inc(
                    "koe_sip_malformed_total",
                    "Unparseable SIP messages received",
                    &[],
                );
                warn!(from = %peer.addr, len = data.len(), reason = %e.reason, preview = %preview(data), "malformed SIP message");
                self.core.handle_malformed(&e, peer);
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send { to, data } => {
                    if let Some(code) = status_code(&data) {
                        self.metrics
                            .inc("koe_sip_responses_total", "SIP responses sent", &[("code", code)]);
                    }
                    self.send_raw(to, data)
                }
                Output::Event(e) => {
                    let _ = self.events.send(e);
                }
            }
        }
    }

    fn send_raw(&mut self, to: Peer, data: Vec<u8>) {
        match to.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&data, to.addr) {
                    debug!(to = %to.addr, error = %e, "UDP send failed");
                }
            }
            Transport::Tcp => match self.tcp.get(&to.addr) {
                Some(w) => {
                    let _ = w.send(data);
                }
                None => {
                    // The caller's connection is gone: open a new one (e.g. for a BYE).
                    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
                    let _ = tx.send(data);
                    self.tcp.insert(to.addr, tx);
                    tokio::spawn(connect_and_write(to.addr, rx));
                }
            },
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// The local address the kernel would send from to reach `peer` (no packet is sent).
pub fn route_source(peer: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let s = StdUdpSocket::bind(any).ok()?;
    s.connect(peer).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

fn status_code(data: &[u8]) -> Option<&str> {
    let rest = data.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()
}

/// A short, printable preview of a bad message: one log line, never a line per byte.
fn preview(data: &[u8]) -> String {
    let head = &data[..data.len().min(120)];
    let mut s: String = head.escape_ascii().to_string();
    if data.len() > head.len() {
        s.push('…');
    }
    s
}

async fn accept_loop(
    listener: TcpListener,
    inbound: mpsc::UnboundedSender<Inbound>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, peer)) => { tokio::spawn(serve_connection(stream, peer, inbound.clone(), cancel.clone())); }
                Err(e) => warn!(error = %e, "TCP accept failed"),
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    inbound: mpsc::UnboundedSender<Inbound>,
    cancel: CancellationToken,
) {
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let _ = inbound.send(Inbound::Connected { peer, writer: tx });
    let writer = tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let sip_peer = Peer {
        transport: Transport::Tcp,
        addr: peer,
    };
    'read: loop {
        let n = tokio::select! {
            _ = cancel.cancelled() => break,
            r = rd.read(&mut chunk) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            // Skip keep-alive CRLFs between messages.
            let skip = buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
            buf.drain(..skip);
            match message::frame_len(&buf) {
                Ok(Some(len)) => {
                    let data: Vec<u8> = buf.drain(..len).collect();
                    let _ = inbound.send(Inbound::Frame {
                        data,
                        peer: sip_peer,
                        local,
                    });
                }
                Ok(None) => break,
                Err(reason) => {
                    // A stream whose framing is lost cannot be resynchronised: answer what we can, close.
                    warn!(from = %peer, %reason, preview = %preview(&buf), "unframeable SIP over TCP: closing");
                    let mut data = std::mem::take(&mut buf);
                    data.truncate(message::MAX_MESSAGE);
                    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        data.truncate(end + 4);
                    }
                    let _ = inbound.send(Inbound::Frame {
                        data,
                        peer: sip_peer,
                        local,
                    });
                    break 'read;
                }
            }
        }
    }
    let _ = inbound.send(Inbound::Closed { peer });
    // Let queued responses go out before the socket closes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    writer.abort();
}

async fn connect_and_write(addr: SocketAddr, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        debug!(%addr, "TCP connect failed");
        return;
    };
    while let Some(data) = rx.recv().await {
        if stream.write_all(&data).await.is_err() {
            break;
        }
    }
}
