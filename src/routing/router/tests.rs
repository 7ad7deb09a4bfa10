use super::*;

fn agent(id: &str, skills: &[(&str, u8)], languages: &[&str]) -> AgentDef {
    AgentDef {
        id: id.into(),
        name: id.to_uppercase(),
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
        languages: languages.iter().map(|l| l.to_string()).collect(),
    }
}

fn request(call: &str, queue: &str, skills: &[&str], language: &str) -> Request {
    Request {
        call_id: call.into(),
        queue: queue.into(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        language: language.into(),
        agent: None,
        overflow: true,
    }
}

fn outputs(r: &mut Router) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

fn offers(out: &[Output]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Offer { call_id, agent, .. } => Some((call_id.clone(), agent.clone())),
            _ => None,
        })
        .collect()
}

fn offer(call: &str, agent: &str) -> (String, String) {
    (call.to_string(), agent.to_string())
}

/// Agents registered and available in this order, a second apart (the first is the longest idle).
fn staffed(defs: Vec<AgentDef>, t0: Instant) -> Router {
    let mut r = Router::new(RouterConfig::default());
    for (i, d) in defs.into_iter().enumerate() {
        let at = t0 + Duration::from_secs(i as u64);
        let id = d.id.clone();
        r.upsert_agent(d, at);
        r.set_registered(&id, true, at);
        r.set_presence(&id, Presence::Available, at).unwrap();
    }
    outputs(&mut r);
    r
}

#[test]
fn skills_and_language_decide_who_can_take_a_call() {
    let t0 = Instant::now();
    let mut r = staffed(
        vec![
            agent("ann", &[("billing", 3)], &["en"]),
            agent("ben", &[("orders", 2)], &["ja"]),
            agent("cat", &[("orders", 1)], &["en", "ja"]),
        ],
        t0,
    );
    let t = t0 + Duration::from_secs(10);
    r.enqueue(request("c1", "orders", &["orders"], "en"), t);
    assert_eq!(
        offers(&outputs(&mut r)),
        [offer("c1", "cat")],
        "ann lacks the skill, ben the language"
    );
    r.enqueue(request("c2", "orders", &["orders"], "ja"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c2", "ben")]);
    r.enqueue(request("c3", "orders", &["orders", "billing"], "en"), t);
    let out = outputs(&mut r);
    assert!(offers(&out).is_empty(), "nobody has both skills: {out:?}");
}

#[test]
fn the_longest_idle_agent_is_offered_first() {
    let t0 = Instant::now();
    let defs = ["a", "b", "c"]
        .map(|id| agent(id, &[("general", 1)], &["en"]))
        .to_vec();
    let mut r = staffed(defs, t0);
    let mut t = t0 + Duration::from_secs(10);
    // a takes a call and comes back: now the most recently idle.
    r.enqueue(request("c1", "general", &["general"], "en"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c1", "a")]);
    r.answered("c1", "a", t);
    t += Duration::from_secs(60);
    r.agent_done("a", t);
    r.wrapped_up("a", t);
    outputs(&mut r);
    r.enqueue(request("c2", "general", &["general"], "en"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c2", "b")]);
    r.enqueue(request("c3", "general", &["general"], "en"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c3", "c")]);
    r.enqueue(request("c4", "general", &["general"], "en"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c4", "a")]);
}

#[test]
fn no_answer_goes_to_the_next_agent_and_the_missed_one_is_away() {
    let t0 = Instant::now();
    let defs = ["a", "b"]
        .map(|id| agent(id, &[("general", 1)], &["en"]))
        .to_vec();
    let mut r = staffed(defs, t0);
    let t = t0 + Duration::from_secs(10);
    r.enqueue(request("c1", "general", &["general"], "en"), t);
    assert_eq!(offers(&outputs(&mut r)), [offer("c1", "a")]);
    let deadline = r.poll_timeout().unwrap();
    assert_eq!(deadline, t + RouterConfig::default().offer_timeout);
    r.handle_timeout(deadline);
    let out = outputs(&mut r);
    assert!(out.contains(&Output::Withdraw {
        call_id: "c1".into(),
        agent: "a".into(),
        cause: "no-answer".into()
    }));
    assert!(out.contains(&Output::Presence {
        agent: "a".into(),
        presence: Presence::Away
    }));
    assert_eq!(offers(&out), [offer("c1", "b")]);
    // b's phone refuses (busy): nobody else, the caller waits; a comes back and gets it again? No: a
    // already missed this call, so it waits for someone new.
    r.offer_failed("c1", "b", deadline);
    r.set_presence("a", Presence::Available, deadline).unwrap();
    let out = outputs(&mut r);
    assert!(offers(&out).is_empty(), "{out:?}");
    r.upsert_agent(agent("d", &[("general", 1)], &["en"]), deadline);
    r.set_registered("d", true, deadline);
    r.set_presence("d", Presence::Available, deadline).unwrap();
    assert_eq!(offers(&outputs(&mut r)), [offer("c1", "d")]);
}

#[test]
fn overflow_after_the_longest_wait_or_at_once_when_unstaffed() {
    let t0 = Instant::now();
    let mut r = staffed(vec![agent("a", &[("orders", 1)], &["en"])], t0);
    r.set_presence("a", Presence::Away, t0).unwrap();
    outputs(&mut r);
    let t = t0 + Duration::from_secs(1);
    r.enqueue(request("c1", "orders", &["orders"], "en"), t);
    r.enqueue(request("c2", "billing", &["billing"], "en"), t);
    let out = outputs(&mut r);
    assert!(out.contains(&Output::Position {
        call_id: "c1".into(),
        queue: "orders".into(),
        position: 1,
        waiting: 1
    }));
    let cfg = RouterConfig::default();
    assert_eq!(r.poll_timeout(), Some(t + cfg.unstaffed_wait));
    r.handle_timeout(t + cfg.unstaffed_wait);
    assert_eq!(
        outputs(&mut r),
        [Output::Overflow {
            call_id: "c2".into(),
            queue: "billing".into(),
            cause: "no-agents".into()
        }],
        "nobody has billing: c2 leaves; a is away but staffed, so c1 waits"
    );
    assert_eq!(r.poll_timeout(), Some(t + cfg.max_wait));
    r.handle_timeout(t + cfg.max_wait);
    assert_eq!(
        outputs(&mut r),
        [Output::Overflow {
            call_id: "c1".into(),
            queue: "orders".into(),
            cause: "max-wait".into()
        }]
    );
    assert!(r.queues(t + cfg.max_wait).is_empty());

    // A queue with nowhere to overflow to: that caller waits on, keeping their place.
    let t2 = t + cfg.max_wait;
    let stays = Request {
        overflow: false,
        ..request("c3", "billing", &["billing"], "en")
    };
    r.enqueue(stays, t2);
    r.enqueue(request("c4", "billing", &["billing"], "en"), t2);
    outputs(&mut r);
    assert_eq!(r.poll_timeout(), Some(t2 + cfg.unstaffed_wait), "c4's wait only");
    r.handle_timeout(t2 + cfg.unstaffed_wait);
    let out = outputs(&mut r);
    assert!(out.contains(&Output::Overflow {
        call_id: "c4".into(),
        queue: "billing".into(),
        cause: "no-agents".into()
    }));
    let later = t2 + cfg.max_wait * 3;
    r.handle_timeout(later);
    let out = outputs(&mut r);
    assert!(
        out.iter().all(|o| !matches!(o, Output::Overflow { .. })),
        "{out:?}"
    );
    let queues = r.queues(later);
    assert_eq!(queues[0].waiting[0].call_id, "c3");
    assert_eq!(queues[0].waiting[0].position, 1);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn positions_move_up_and_a_caller_who_leaves_withdraws_the_offer() {
    let t0 = Instant::now();
    let mut r = staffed(vec![agent("a", &[("general", 1)], &["en"])], t0);
    let t = t0 + Duration::from_secs(5);
    for c in ["c1", "c2", "c3"] {
        r.enqueue(request(c, "general", &["general"], "en"), t);
    }
    let out = outputs(&mut r);
    assert_eq!(offers(&out), [offer("c1", "a")]);
    assert_eq!(
        r.queues(t)[0]
            .waiting
            .iter()
            .map(|w| w.position)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    r.leave("c1", t);
    let out = outputs(&mut r);
    assert!(out.contains(&Output::Withdraw {
        call_id: "c1".into(),
        agent: "a".into(),
        cause: "caller-left".into()
    }));
    assert_eq!(
        offers(&out),
        [offer("c2", "a")],
        "a was not set away: the caller left, not a"
    );
    assert!(out.contains(&Output::Position {
        call_id: "c3".into(),
        queue: "general".into(),
        position: 2,
        waiting: 2
    }));
}

#[test]
fn a_transfer_to_a_person_waits_for_that_person_and_presence_rules_hold() {
    let t0 = Instant::now();
    let defs = ["a", "b"]
        .map(|id| agent(id, &[("general", 1)], &["en"]))
        .to_vec();
    let mut r = staffed(defs, t0);
    let t = t0 + Duration::from_secs(5);
    r.set_presence("b", Presence::Away, t).unwrap();
    let mut req = request("c1", "general", &["general"], "en");
    req.agent = Some("b".into());
    r.enqueue(req, t);
    assert!(
        offers(&outputs(&mut r)).is_empty(),
        "a is free but the transfer is to b"
    );
    r.set_presence("b", Presence::Available, t).unwrap();
    assert_eq!(offers(&outputs(&mut r)), [offer("c1", "b")]);
    assert!(
        r.set_presence("b", Presence::Away, t).is_err(),
        "ringing: koe decides"
    );
    assert!(r.set_presence("a", Presence::OnCall, t).is_err());
    r.answered("c1", "b", t);
    r.agent_done("b", t + Duration::from_secs(30));
    assert_eq!(r.agent("b", t).unwrap().presence, Presence::WrapUp);
    let wrap = r.poll_timeout().unwrap();
    r.handle_timeout(wrap);
    assert_eq!(
        r.agent("b", wrap).unwrap().presence,
        Presence::Available,
        "wrap-up ends by itself"
    );
}

#[test]
fn an_unregistered_phone_gets_no_offer() {
    let t0 = Instant::now();
    let mut r = staffed(vec![agent("a", &[("general", 1)], &["en"])], t0);
    r.set_registered("a", false, t0);
    r.enqueue(request("c1", "general", &["general"], "en"), t0);
    assert!(offers(&outputs(&mut r)).is_empty());
    r.set_registered("a", true, t0);
    assert_eq!(offers(&outputs(&mut r)), [offer("c1", "a")]);
}
