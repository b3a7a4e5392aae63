//! While the caller waits: announcements, maximum wait, early hang-ups, refusals.

use super::*;

#[test]
fn announcements_give_the_position_and_wait_then_music_again() {
    let mut h = H::new();
    h.queued_call();
    let o = h.advance(30_000);
    assert_eq!(o, vec![Out::AskPosition { contact: CONTACT }]);
    let o = h.center(CenterIn::Position {
        contact: CONTACT,
        position: 3,
        wait_secs: 100,
    });
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["position_3", "wait_2", "callback_offer"]
    );
    let o = h.prompt_done(&o);
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    // The caller asks for a callback with key 1: the contact stays queued, the call ends.
    let o = h.media(MediaEvent::Dtmf {
        leg: CUSTOMER,
        digit: '1',
    });
    assert!(
        o.contains(&Out::Callback {
            contact: CONTACT,
            queue: Some("sales".into()),
            number: "0312345678".into()
        }),
        "{o:?}"
    );
    let o = h.prompt_done(&o);
    assert_eq!(hangups(&o), vec![CUSTOMER]);
    assert!(ends(&o).is_empty(), "a callback keeps its contact open");
}

#[test]
fn max_wait_leads_to_voicemail() {
    let mut h = H::new();
    h.queued_call();
    let o = h.center(CenterIn::MaxWait { contact: CONTACT });
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["voicemail"]);
    let o = h.prompt_done(&o);
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["beep"]);
    let o = h.prompt_done(&o);
    let rec = o
        .iter()
        .find_map(|x| match x {
            Out::RecordStart {
                recording,
                voicemail: true,
                left: CUSTOMER,
                ..
            } => Some(*recording),
            _ => None,
        })
        .unwrap_or_else(|| panic!("recording the message: {o:?}"));
    h.now += 10_000;
    let o = h.media(MediaEvent::Dtmf {
        leg: CUSTOMER,
        digit: '#',
    });
    assert!(o.contains(&Out::RecordStop { recording: rec }));
    assert!(o.contains(&Out::Voicemail {
        contact: CONTACT,
        queue: "sales".into(),
        recording: rec,
        caller: "0312345678".into()
    }));
}

#[test]
fn caller_hanging_up_before_the_contact_exists_is_recorded_once_it_does() {
    let mut h = H::new();
    let o = h.sip(SipIn::Incoming {
        leg: CUSTOMER,
        tenant_id: 1,
        caller: "0312345678".into(),
        caller_name: None,
        called: "100".into(),
        offer: Some(offer_sdp(4000)),
        flow: Some(flow()),
        call_id: "c".into(),
    });
    let Out::CreateContact { call, .. } = o[1] else {
        panic!()
    };
    h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "cancel".into(),
    });
    let o = h.center(CenterIn::ContactCreated { call, contact: 5 });
    assert_eq!(ends(&o), vec![(5, Side::Caller, "cancel".to_string())]);
}

#[test]
fn calls_without_a_flow_or_usable_sdp_are_refused() {
    let mut h = H::new();
    let mut incoming = |offer: Option<String>, flow: Option<Arc<Flow>>| {
        h.sip(SipIn::Incoming {
            leg: CUSTOMER,
            tenant_id: 1,
            caller: "1".into(),
            caller_name: None,
            called: "2".into(),
            offer,
            flow,
            call_id: "c".into(),
        })
    };
    assert_eq!(
        incoming(Some(offer_sdp(1)), None),
        vec![Out::SipReject {
            leg: CUSTOMER,
            code: 404
        }]
    );
    let g729 = offer_sdp(4000).replace("RTP/AVP 0 101", "RTP/AVP 18");
    assert_eq!(
        incoming(Some(g729), Some(flow())),
        vec![Out::SipReject {
            leg: CUSTOMER,
            code: 488
        }]
    );
    // SDP that cannot be read is a bad request, not an unacceptable one.
    assert_eq!(
        incoming(Some("garbage".into()), Some(flow())),
        vec![Out::SipReject {
            leg: CUSTOMER,
            code: 400
        }]
    );
    let no_audio = "v=0\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 1 RTP/AVP 96\r\n";
    assert_eq!(
        incoming(Some(no_audio.into()), Some(flow())),
        vec![Out::SipReject {
            leg: CUSTOMER,
            code: 488
        }]
    );
}
