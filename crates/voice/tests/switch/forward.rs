//! The IVR forwarding to external numbers; voicemail.

use super::*;

const FORWARD_FLOW: &str = r#"
name = "fwd"
start = "out"
language = "ja"

[nodes.out]
type = "transfer"
number = "090-1111-2222"
on_failure = "sorry"

[nodes.sorry]
type = "hangup"
prompt = "closed"
"#;

/// An inbound call whose flow forwards it at once; returns the forward's Locate outputs.
fn forwarded_call(h: &mut H) -> Vec<Out> {
    let (_, o) = h.inbound(flow_from("fwd.toml", FORWARD_FLOW), None);
    assert!(
        o.iter().any(|x| matches!(
            x,
            Out::Locate { party: Party::Number(n), .. } if n == "090-1111-2222"
        )),
        "{o:?}"
    );
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["moh"],
        "music while it rings"
    );
    o
}

#[test]
fn the_ivr_forwards_a_caller_to_an_external_number() {
    let mut h = H::new();
    let o = forwarded_call(&mut h);
    let trunk = PhoneTarget {
        trunk: Some("carrier".into()),
        ..phone(9)
    };
    let (fwd, _) = h.complete_dial(&o, trunk);
    let o = h.answer(fwd, 7000);
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(fwd)));
    assert_eq!(heard(&o, fwd), Some(SourceSpec::Relay(CUSTOMER)));
    assert!(
        ends(&o)
            .iter()
            .any(|(c, _, why)| *c == CONTACT && why == "forwarded_external"),
        "the contact is over once the number answered: {o:?}"
    );
    // The external party hangs up: the caller is hung up too.
    let o = h.sip(SipIn::Ended {
        leg: fwd,
        cause: "bye".into(),
    });
    assert_eq!(hangups(&o), vec![CUSTOMER]);
}

#[test]
fn a_forward_nobody_answers_goes_on_with_the_flow() {
    let mut h = H::new();
    let o = forwarded_call(&mut h);
    let (fwd, _) = h.complete_dial(&o, phone(9));
    let o = h.sip(SipIn::Failed {
        leg: fwd,
        code: 486,
        reason: "Busy Here".into(),
    });
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["closed"], "{o:?}");
    assert!(ends(&o).is_empty(), "the flow still has the caller");
}

#[test]
fn hanging_up_after_leaving_a_message_is_not_an_abandon() {
    let mut h = H::new();
    let flow = flow_from(
        "vm.toml",
        "name = \"vm\"\nstart = \"vm\"\nlanguage = \"ja\"\n\n[nodes.vm]\ntype = \"voicemail\"\nprompt = \"voicemail\"\nqueue = \"sales\"\n",
    );
    let (_, o) = h.inbound(flow, None);
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["voicemail"]);
    let o = h.prompt_done(&o);
    h.prompt_done(&o);
    // Speaking the message, then hanging up instead of pressing #.
    h.now += 5_000;
    let o = h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "bye".into(),
    });
    assert!(
        o.iter().any(|x| matches!(x, Out::Voicemail { .. })),
        "the message is kept: {o:?}"
    );
    assert_eq!(
        ends(&o),
        vec![(CONTACT, Side::Caller, "caller_left_voicemail".to_string())]
    );
}

/// Regression: a callback contact whose call is up and was transferred back to a queue kept
/// its callback number, so the next offer tried to start a second callback attempt (refused:
/// the contact already had a call) and the caller waited with music forever. An offer for
/// a contact with a caller on the line rings the agent's phone.
#[test]
fn an_answered_callback_sent_back_to_the_queue_is_offered_like_any_call() {
    let mut h = H::new();
    let call =
        h.sw.handle_offer(88, 5, "a".into(), Some("0312345678"), false, h.now)
            .unwrap();
    assert!(
        call.is_some(),
        "nobody on the line: a callback attempt starts"
    );
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    h.answer(agent, 6000);
    let o = h.center(CenterIn::AcceptResult {
        contact: 88,
        agent: 5,
        ok: true,
    });
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (cust, _) = h.complete_dial(&o, trunk);
    h.answer(cust, 4000);
    // The agent sends the customer to a queue; the next agent is offered the contact.
    h.center(CenterIn::Transferred { contact: 88 });
    let again =
        h.sw.handle_offer(88, 7, "b".into(), Some("0312345678"), false, h.now)
            .unwrap();
    assert_eq!(again, None, "no second call for the same contact");
    let o = h.drain();
    assert!(
        o.iter().any(|x| matches!(
            x,
            Out::Locate {
                party: Party::Agent(7),
                ..
            }
        )),
        "the next agent's phone rings for the caller on the line: {o:?}"
    );
}
