//! RTP/RTCP port pairs from the configured range: even port for RTP, the next for RTCP (RFC 3550 §11),
//! handed out round-robin so a just-released port is not reused at once, and returned when the lease drops.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;

pub struct PortPool {
    ip: IpAddr,
    min: u16,
    max: u16,
    state: Mutex<PoolState>,
}

struct PoolState {
    next: u16,
    in_use: HashSet<u16>,
}

/// A bound RTP/RTCP socket pair; the ports go back to the pool when it is dropped.
pub struct Lease {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    port: u16,
    pool: Arc<PortPool>,
}

impl Lease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut s) = self.pool.state.lock() {
            s.in_use.remove(&self.port);
        }
    }
}

impl PortPool {
    pub fn new(ip: IpAddr, min: u16, max: u16) -> Arc<Self> {
        let min = min + (min % 2);
        Arc::new(PortPool {
            ip,
            min,
            max,
            state: Mutex::new(PoolState {
                next: min,
                in_use: HashSet::new(),
            }),
        })
    }

    pub fn in_use(&self) -> usize {
        self.state.lock().map(|s| s.in_use.len()).unwrap_or(0)
    }

    /// Binds the next free pair; ports taken by other processes are skipped.
    pub fn allocate(self: &Arc<Self>) -> std::io::Result<Lease> {
        let pairs = ((self.max.saturating_sub(self.min)) / 2 + 1) as usize;
        for _ in 0..pairs {
            let port = {
                let mut s = self
                    .state
                    .lock()
                    .map_err(|_| std::io::Error::other("port pool poisoned"))?;
                let port = s.next;
                s.next = if port.saturating_add(3) > self.max {
                    self.min
                } else {
                    port + 2
                };
                if !s.in_use.insert(port) {
                    continue;
                }
                port
            };
            let bind = |p: u16| std::net::UdpSocket::bind(SocketAddr::new(self.ip, p));
            match (bind(port), bind(port + 1)) {
                (Ok(rtp), Ok(rtcp)) => {
                    rtp.set_nonblocking(true)?;
                    rtcp.set_nonblocking(true)?;
                    return Ok(Lease {
                        rtp: UdpSocket::from_std(rtp)?,
                        rtcp: UdpSocket::from_std(rtcp)?,
                        port,
                        pool: self.clone(),
                    });
                }
                _ => {
                    if let Ok(mut s) = self.state.lock() {
                        s.in_use.remove(&port);
                    }
                }
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "no free RTP port in the configured range",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pairs_are_even_released_and_reused() {
        let pool = PortPool::new("127.0.0.1".parse().unwrap(), 41000, 41007);
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        assert_eq!(a.port() % 2, 0);
        assert_ne!(a.port(), b.port());
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.port() + 1);
        let (pa, _c, _d) = (a.port(), pool.allocate().unwrap(), pool.allocate().unwrap());
        assert!(pool.allocate().is_err(), "range exhausted");
        drop(a);
        assert_eq!(pool.in_use(), 3);
        assert_eq!(pool.allocate().unwrap().port(), pa, "a released port is reused");
    }
}
