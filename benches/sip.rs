//! SIP parsing and the UAS core's per-call work, per message.

use criterion::{Criterion, criterion_group, criterion_main};
use koe::sip::core::{Command, CoreConfig, HangupBy, Peer, SipCore, Transport};
use koe::sip::message::Message;
use std::hint::black_box;
use std::time::Instant;

const INVITE: &str = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-524287-1---abcdef;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:alice@127.0.0.1:5061;transport=udp>\r\n\
To: <sip:service@127.0.0.1:5060>\r\n\
From: \"Alice\" <sip:alice@127.0.0.1:5061>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Content-Type: application/sdp\r\n\
User-Agent: bench\r\n\
Content-Length: 180\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

fn bench(c: &mut Criterion) {
    c.bench_function("sip_parse_invite", |b| {
        b.iter(|| Message::parse(black_box(INVITE.as_bytes())).unwrap())
    });
    let msg = Message::parse(INVITE.as_bytes()).unwrap();
    c.bench_function("sip_serialize_invite", |b| b.iter(|| black_box(&msg).to_bytes()));
    let peer = Peer {
        transport: Transport::Udp,
        addr: "127.0.0.1:5061".parse().unwrap(),
    };
    let local = "127.0.0.1:5060".parse().unwrap();
    let mut n = 0u64;
    c.bench_function("sip_core_invite_answer_bye", |b| {
        let mut core = SipCore::new(CoreConfig::default());
        b.iter(|| {
            n += 1;
            let id = format!("call-{n}");
            let raw = INVITE.replace("3848276298220188511@127.0.0.1", &id);
            let now = Instant::now();
            core.handle_message(Message::parse(raw.as_bytes()).unwrap(), peer, local, now);
            core.handle_command(
                Command::Answer {
                    call_id: id.clone(),
                    local_media: local,
                },
                now,
            );
            core.handle_command(
                Command::Hangup {
                    call_id: id,
                    by: HangupBy::Koe,
                    cause: "bench".into(),
                },
                now,
            );
            while core.poll_output().is_some() {}
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
