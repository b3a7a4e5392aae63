//! The switch driven by hand: SIP, media and center inputs in, outputs checked, a fake
//! clock. Each test follows one call through a feature.

use std::net::SocketAddr;
use std::sync::Arc;

use tsunagu_flow::{load, Checks, Flow};
use tsunagu_media::core::MediaEvent;
use tsunagu_voice::*;

const T: i64 = 1_767_571_200_000;
const CUSTOMER: LegId = 1 << 48;
const CONTACT: ContactId = 77;

const FLOW: &str = r#"
name = "t"
start = "menu"
language = "ja"

[nodes.menu]
type = "menu"
prompt = "menu"
options = { "1" = "sales" }
timeout_secs = 5
retries = 1
on_failure = "bye"

[nodes.sales]
type = "queue"
queue = "sales"
callback = true
announce_secs = 30
on_max_wait = "vm"

[nodes.vm]
type = "voicemail"
prompt = "voicemail"
queue = "sales"
max_secs = 60

[nodes.bye]
type = "hangup"
"#;

fn flow_from(name: &str, src: &str) -> Arc<Flow> {
    Arc::new(load(name, src, &Checks::none()).unwrap())
}

fn flow() -> Arc<Flow> {
    flow_from("t.toml", FLOW)
}

fn offer_sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

fn hold_sdp(port: u16) -> String {
    offer_sdp(port).replace("a=sendrecv", "a=sendonly")
}

fn phone(n: u16) -> PhoneTarget {
    PhoneTarget {
        uri: format!("sip:agent{n}@10.0.0.{n}:5060"),
        destination: SocketAddr::from(([10, 0, 0, n as u8], 5060)),
        tcp: false,
        tls: false,
        trunk: None,
    }
}

struct H {
    sw: Switch,
    now: i64,
    port: u16,
}

impl H {
    fn new() -> H {
        H {
            sw: Switch::new(SwitchConfig::default()),
            now: T,
            port: 20_000,
        }
    }

    fn drain(&mut self) -> Vec<Out> {
        std::iter::from_fn(|| self.sw.poll_output()).collect()
    }

    fn sip(&mut self, ev: SipIn) -> Vec<Out> {
        self.sw.handle_sip(ev, self.now);
        self.drain()
    }

    fn center(&mut self, ev: CenterIn) -> Vec<Out> {
        self.sw.handle_center(ev, self.now);
        self.drain()
    }

    fn media(&mut self, ev: MediaEvent) -> Vec<Out> {
        self.sw.handle_media(ev, self.now);
        self.drain()
    }

    fn advance(&mut self, ms: i64) -> Vec<Out> {
        self.now += ms;
        self.sw.handle_timeout(self.now);
        self.drain()
    }

    /// Carries a dial through: Locate → phone found → media ready. Returns the outputs
    /// after the INVITE went out.
    fn complete_dial(&mut self, outs: &[Out], target: PhoneTarget) -> (LegId, Vec<Out>) {
        let leg = outs
            .iter()
            .find_map(|o| match o {
                Out::Locate { leg, .. } => Some(*leg),
                _ => None,
            })
            .expect("a Locate");
        self.sw.handle_located(leg, vec![target], self.now);
        let o = self.drain();
        assert!(
            o.iter()
                .any(|x| matches!(x, Out::MediaCreate { leg: l, .. } if *l == leg)),
            "{o:?}"
        );
        self.port += 2;
        self.sw.handle_leg_ready(leg, self.port, self.now);
        let o = self.drain();
        assert!(
            o.iter()
                .any(|x| matches!(x, Out::SipDial { leg: l, .. } if *l == leg)),
            "{o:?}"
        );
        (leg, o)
    }

    fn answer(&mut self, leg: LegId, port: u16) -> Vec<Out> {
        self.sip(SipIn::Answered {
            leg,
            answer: Some(offer_sdp(port)),
        })
    }

    /// The prompt the customer hears is done playing.
    fn prompt_done(&mut self, outs: &[Out]) -> Vec<Out> {
        let token = token_of(outs, CUSTOMER);
        self.media(MediaEvent::PlayDone {
            leg: CUSTOMER,
            token,
        })
    }

    /// An inbound call from 0312345678 running `flow`: offered, its contact created, its
    /// media ready (so it is answered and the flow starts). Returns the outputs of the
    /// offer and those after the answer.
    fn inbound(&mut self, flow: Arc<Flow>, caller_name: Option<String>) -> (Vec<Out>, Vec<Out>) {
        let offered = self.sip(SipIn::Incoming {
            leg: CUSTOMER,
            tenant_id: 1,
            caller: "0312345678".into(),
            caller_name,
            called: "0501234567".into(),
            offer: Some(offer_sdp(4000)),
            flow: Some(flow),
            call_id: "c1".into(),
        });
        let call = offered
            .iter()
            .find_map(|x| match x {
                Out::CreateContact { call, .. } => Some(*call),
                _ => None,
            })
            .unwrap();
        self.center(CenterIn::ContactCreated {
            call,
            contact: CONTACT,
        });
        self.sw.handle_leg_ready(CUSTOMER, 20_000, self.now);
        let answered = self.drain();
        (offered, answered)
    }

    /// An inbound call answered, through the menu (key 1) into the queue `sales`.
    fn queued_call(&mut self) -> u64 {
        let (o, answered) = self.inbound(flow(), Some("山田".into()));
        assert!(
            matches!(o[0], Out::MediaCreate { leg: CUSTOMER, .. }),
            "{o:?}"
        );
        let call = match &o[1] {
            Out::CreateContact { call, caller, .. } => {
                assert_eq!(caller, "0312345678");
                *call
            }
            other => panic!("{other:?}"),
        };
        let o = answered;
        let answer = o.iter().find_map(|x| match x {
            Out::SipAnswer { leg: CUSTOMER, sdp } => Some(sdp.clone()),
            _ => None,
        });
        assert!(answer
            .expect("answered")
            .contains("m=audio 20000 RTP/AVP 0 101"));
        assert_eq!(prompts_of(&o, CUSTOMER), vec!["menu"]);
        self.prompt_done(&o);
        let o = self.media(MediaEvent::Dtmf {
            leg: CUSTOMER,
            digit: '1',
        });
        assert!(
            o.iter().any(
                |x| matches!(x, Out::Enqueue { contact: CONTACT, queue, .. } if queue == "sales")
            ),
            "{o:?}"
        );
        assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"], "music while waiting");
        self.center(CenterIn::Enqueued {
            contact: CONTACT,
            record: true,
        });
        call
    }

    /// Offers the queued call to `agent` and answers on their phone; returns the agent leg.
    fn connect(&mut self, agent: AgentId) -> LegId {
        let o = self.center(CenterIn::Offer {
            contact: CONTACT,
            agent,
            agent_name: "x".into(),
        });
        let (leg, o) = self.complete_dial(&o, phone(agent as u16));
        let dial = o.iter().find_map(|x| match x {
            Out::SipDial {
                from_user,
                from_name,
                ..
            } => Some((from_user.clone(), from_name.clone())),
            _ => None,
        });
        assert_eq!(
            dial,
            Some(("0312345678".into(), Some("山田".into()))),
            "the agent sees who calls"
        );
        let o = self.answer(leg, 6000);
        assert!(
            o.contains(&Out::Accept {
                contact: CONTACT,
                agent
            }),
            "{o:?}"
        );
        let o = self.center(CenterIn::AcceptResult {
            contact: CONTACT,
            agent,
            ok: true,
        });
        assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(leg)));
        assert_eq!(heard(&o, leg), Some(SourceSpec::Relay(CUSTOMER)));
        assert!(o.iter().any(|x| matches!(x, Out::RecordStart { left: CUSTOMER, right, voicemail: false, .. } if *right == leg)));
        leg
    }
}

fn heard(outs: &[Out], leg: LegId) -> Option<SourceSpec> {
    outs.iter().rev().find_map(|o| match o {
        Out::MediaSource { leg: l, source } if *l == leg => Some(source.clone()),
        _ => None,
    })
}

fn prompts_of(outs: &[Out], leg: LegId) -> Vec<String> {
    match heard(outs, leg) {
        Some(SourceSpec::Prompts { prompts, .. }) => prompts.into_iter().map(|p| p.1).collect(),
        _ => vec![],
    }
}

fn token_of(outs: &[Out], leg: LegId) -> u64 {
    match heard(outs, leg) {
        Some(SourceSpec::Prompts { token, .. }) => token,
        other => panic!("no prompt: {other:?}"),
    }
}

fn ends(outs: &[Out]) -> Vec<(ContactId, Side, String)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::EndContact {
                contact,
                side,
                cause,
            } => Some((*contact, *side, cause.clone())),
            _ => None,
        })
        .collect()
}

fn hangups(outs: &[Out]) -> Vec<LegId> {
    outs.iter()
        .filter_map(|o| match o {
            Out::SipHangup { leg } => Some(*leg),
            _ => None,
        })
        .collect()
}

#[test]
fn inbound_call_goes_through_the_ivr_and_queue_to_an_agent() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.now += 60_000;
    let o = h.sip(SipIn::Ended {
        leg: CUSTOMER,
        cause: "bye".into(),
    });
    assert!(o.iter().any(|x| matches!(x, Out::RecordStop { .. })));
    assert_eq!(
        hangups(&o),
        vec![agent],
        "only the agent's leg is hung up by us"
    );
    assert_eq!(ends(&o), vec![(CONTACT, Side::Caller, "bye".to_string())]);
    assert!(
        o.contains(&Out::MediaRemove { leg: CUSTOMER })
            && o.contains(&Out::MediaRemove { leg: agent })
    );
    assert_eq!(
        (h.sw.call_count(), h.sw.leg_count()),
        (0, 0),
        "nothing left behind"
    );
}

#[test]
fn an_agent_hanging_up_ends_the_call_for_the_caller() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    let o = h.sip(SipIn::Ended {
        leg: agent,
        cause: "bye".into(),
    });
    assert_eq!(hangups(&o), vec![CUSTOMER]);
    assert_eq!(ends(&o), vec![(CONTACT, Side::Agent, "bye".to_string())]);
}

#[test]
fn withdrawn_offers_stop_ringing_and_busy_phones_reject() {
    let mut h = H::new();
    h.queued_call();
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (leg5, _) = h.complete_dial(&o, phone(5));
    // The queue's no-answer timer ran out: the ACD withdraws the offer.
    let o = h.center(CenterIn::OfferWithdrawn {
        contact: CONTACT,
        agent: 5,
    });
    assert_eq!(hangups(&o), vec![leg5], "CANCEL the ringing phone");
    assert!(o.contains(&Out::MediaRemove { leg: leg5 }));
    // The next agent's phone is busy.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 6,
        agent_name: "y".into(),
    });
    let (leg6, _) = h.complete_dial(&o, phone(6));
    let o = h.sip(SipIn::Failed {
        leg: leg6,
        code: 486,
        reason: "Busy Here".into(),
    });
    assert!(
        o.contains(&Out::Reject {
            contact: CONTACT,
            agent: 6,
            unreachable: false
        }),
        "{o:?}"
    );
    // An agent without a registered phone cannot take calls.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 7,
        agent_name: "z".into(),
    });
    let leg7 = o
        .iter()
        .find_map(|x| match x {
            Out::Locate { leg, .. } => Some(*leg),
            _ => None,
        })
        .unwrap();
    h.sw.handle_located(leg7, vec![], h.now);
    assert!(
        h.drain().contains(&Out::Reject {
            contact: CONTACT,
            agent: 7,
            unreachable: true
        }),
        "no phone registered is a miss, not the agent declining"
    );
    // Still queued with music; a fourth agent takes it.
    h.connect(8);
}

#[test]
fn a_phone_answering_after_another_took_the_call_is_hung_up() {
    let mut h = H::new();
    h.queued_call();
    // Ring-all: two phones ring.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (leg5, _) = h.complete_dial(&o, phone(5));
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 6,
        agent_name: "y".into(),
    });
    let (leg6, _) = h.complete_dial(&o, phone(6));
    h.answer(leg5, 6000);
    let o = h.center(CenterIn::AcceptResult {
        contact: CONTACT,
        agent: 5,
        ok: true,
    });
    assert_eq!(hangups(&o), vec![leg6], "the other phone stops ringing");
    // It answers anyway, a moment too late.
    let o = h.answer(leg6, 6002);
    assert_eq!(hangups(&o), vec![leg6]);
}

#[test]
fn hold_from_the_api_and_from_the_phone() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.hold(CONTACT, true, h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["moh"],
        "the customer hears music"
    );
    assert_eq!(
        heard(&o, agent),
        Some(SourceSpec::Silence),
        "the agent hears nothing"
    );
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::Event { kind: "held", .. })));
    h.sw.hold(CONTACT, false, h.now).unwrap();
    let o = h.drain();
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    // The phone's own hold button: a re-INVITE with sendonly.
    let o = h.sip(SipIn::Update {
        leg: agent,
        offer: hold_sdp(6000),
    });
    let answer = o.iter().find_map(|x| match x {
        Out::SipAnswerUpdate { sdp, .. } => Some(sdp.clone()),
        _ => None,
    });
    assert!(answer.unwrap().contains("a=recvonly"));
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    let o = h.sip(SipIn::Update {
        leg: agent,
        offer: offer_sdp(6000),
    });
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    assert!(o.iter().any(|x| matches!(
        x,
        Out::Event {
            kind: "resumed",
            ..
        }
    )));
}

#[test]
fn supervisors_listen_whisper_and_barge() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.monitor(CONTACT, 9, MonitorMode::Listen, h.now)
        .unwrap();
    let o = h.drain();
    let (sup, _) = h.complete_dial(&o, phone(9));
    let o = h.answer(sup, 7000);
    assert_eq!(
        heard(&o, sup),
        Some(SourceSpec::Mix(vec![CUSTOMER, agent])),
        "hears both"
    );
    assert_eq!(
        heard(&o, agent),
        None,
        "listening changes nothing for the agent"
    );
    h.sw.monitor(CONTACT, 9, MonitorMode::Whisper, h.now)
        .unwrap();
    let o = h.drain();
    assert_eq!(
        heard(&o, agent),
        Some(SourceSpec::Mix(vec![CUSTOMER, sup])),
        "the agent hears the coach"
    );
    assert_eq!(heard(&o, CUSTOMER), None, "the customer does not");
    h.sw.monitor(CONTACT, 9, MonitorMode::Barge, h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        heard(&o, CUSTOMER),
        Some(SourceSpec::Mix(vec![agent, sup])),
        "barge: everyone"
    );
    h.sw.stop_monitor(CONTACT, 9, h.now).unwrap();
    let o = h.drain();
    assert_eq!(hangups(&o), vec![sup]);
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(agent)));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(CUSTOMER)));
    assert!(
        h.sw.monitor(CONTACT, 5, MonitorMode::Listen, h.now)
            .is_err(),
        "not one's own call"
    );
}

#[test]
fn consultation_then_attended_transfer_hands_the_contact_over() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.consult(CONTACT, Party::Agent(6), h.now).unwrap();
    let o = h.drain();
    assert_eq!(
        prompts_of(&o, CUSTOMER),
        vec!["moh"],
        "the customer waits with music"
    );
    let (k, _) = h.complete_dial(&o, phone(6));
    let o = h.answer(k, 6100);
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(agent)));
    h.sw.consult_complete(CONTACT, h.now).unwrap();
    let o = h.drain();
    assert!(
        o.contains(&Out::Handover {
            contact: CONTACT,
            from: 5,
            to: 6
        }),
        "{o:?}"
    );
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(CUSTOMER)));
    let starts = o
        .iter()
        .filter(|x| matches!(x, Out::RecordStart { right, .. } if *right == k))
        .count();
    assert_eq!(starts, 1, "a new recording with the new agent");
    // The new agent hangs up: the call ends on their side.
    let o = h.sip(SipIn::Ended {
        leg: k,
        cause: "bye".into(),
    });
    assert_eq!(ends(&o), vec![(CONTACT, Side::Agent, "bye".to_string())]);
}

#[test]
fn a_three_way_call_mixes_everyone_and_the_agent_can_leave_it() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.consult(CONTACT, Party::Number("09011112222".into()), h.now)
        .unwrap();
    let o = h.drain();
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (k, _) = h.complete_dial(&o, trunk);
    assert!(
        h.sw.conference(CONTACT, h.now).is_err(),
        "not before the other party answers"
    );
    h.answer(k, 6200);
    h.sw.conference(CONTACT, h.now).unwrap();
    let o = h.drain();
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Mix(vec![agent, k])));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Mix(vec![CUSTOMER, k])));
    assert_eq!(heard(&o, k), Some(SourceSpec::Mix(vec![agent, CUSTOMER])));
    // The agent hangs up: the customer and the external party go on talking; the contact
    // is over for the center.
    let o = h.sip(SipIn::Ended {
        leg: agent,
        cause: "bye".into(),
    });
    assert_eq!(
        ends(&o),
        vec![(CONTACT, Side::Agent, "transferred_external".to_string())]
    );
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(k)));
    assert_eq!(heard(&o, k), Some(SourceSpec::Relay(CUSTOMER)));
    let o = h.sip(SipIn::Ended {
        leg: k,
        cause: "bye".into(),
    });
    assert_eq!(hangups(&o), vec![CUSTOMER]);
    assert!(ends(&o).is_empty(), "already ended");
    assert_eq!(h.sw.call_count(), 0);
}

#[test]
fn a_blind_transfer_nobody_answers_goes_back_to_the_queue() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    h.sw.blind_transfer(CONTACT, Party::Agent(6), h.now)
        .unwrap();
    let o = h.drain();
    assert_eq!(
        hangups(&o),
        vec![agent],
        "the transferring agent leaves at once"
    );
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    let (b, _) = h.complete_dial(&o, phone(6));
    // Nobody picks up within the ring timeout.
    let o = h.advance(30_000);
    assert_eq!(hangups(&o), vec![b]);
    assert!(o.contains(&Out::Requeue { contact: CONTACT }), "{o:?}");
    // Back in the queue: a new offer rings the next agent.
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 7,
        agent_name: "z".into(),
    });
    assert!(o.iter().any(|x| matches!(
        x,
        Out::Locate {
            party: Party::Agent(7),
            ..
        }
    )));
}

#[test]
fn a_blind_transfer_to_an_agent_who_answers() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    h.sw.blind_transfer(CONTACT, Party::Agent(6), h.now)
        .unwrap();
    let o = h.drain();
    let (b, _) = h.complete_dial(&o, phone(6));
    let o = h.answer(b, 6300);
    assert!(o.contains(&Out::Handover {
        contact: CONTACT,
        from: 5,
        to: 6
    }));
    assert_eq!(heard(&o, CUSTOMER), Some(SourceSpec::Relay(b)));
}

#[test]
fn a_transfer_to_a_queue_puts_the_caller_back_with_music() {
    let mut h = H::new();
    h.queued_call();
    let agent = h.connect(5);
    let o = h.sip(SipIn::Refer {
        leg: agent,
        target: Some("support".into()),
        attended: false,
    });
    assert!(o.contains(&Out::Refer {
        contact: CONTACT,
        agent: 5,
        leg: agent,
        target: "support".into()
    }));
    // The shell resolved it to a queue and the center moved the contact: the phone hears
    // the transfer was carried out, then its leg is hung up.
    let o = h.center(CenterIn::Transferred { contact: CONTACT });
    let notify = o
        .iter()
        .position(|x| matches!(x, Out::SipReferNotify { leg, code: 200, .. } if *leg == agent));
    let bye = o
        .iter()
        .position(|x| matches!(x, Out::SipHangup { leg } if *leg == agent));
    assert!(notify.is_some() && notify < bye, "{o:?}");
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(prompts_of(&o, CUSTOMER), vec!["moh"]);
    assert!(o.iter().any(|x| matches!(x, Out::RecordStop { .. })));
    h.connect(6);
}

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

#[test]
fn a_callback_rings_the_agent_first_then_dials_the_customer() {
    let mut h = H::new();
    h.sw.start_outbound(CallKind::Callback, 88, 5, "0312345678", None, true, h.now)
        .unwrap();
    let o = h.drain();
    let (agent, o) = h.complete_dial(&o, phone(5));
    let name = o.iter().find_map(|x| match x {
        Out::SipDial { from_name, .. } => from_name.clone(),
        _ => None,
    });
    assert_eq!(name.as_deref(), Some("コールバック 0312345678"));
    let o = h.answer(agent, 6000);
    assert!(o.contains(&Out::Accept {
        contact: 88,
        agent: 5
    }));
    let o = h.center(CenterIn::AcceptResult {
        contact: 88,
        agent: 5,
        ok: true,
    });
    assert!(
        o.iter()
            .any(|x| matches!(x, Out::Locate { party: Party::Number(n), .. } if n == "0312345678")),
        "{o:?}"
    );
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (cust, _) = h.complete_dial(&o, trunk);
    let o = h.answer(cust, 4000);
    assert_eq!(heard(&o, cust), Some(SourceSpec::Relay(agent)));
    assert_eq!(heard(&o, agent), Some(SourceSpec::Relay(cust)));
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordStart { contact: 88, .. })));
    let o = h.sip(SipIn::Ended {
        leg: cust,
        cause: "bye".into(),
    });
    assert_eq!(ends(&o), vec![(88, Side::Caller, "bye".to_string())]);
}

#[test]
fn a_callback_offer_withdrawn_drops_the_attempt_but_not_the_contact() {
    let mut h = H::new();
    h.sw.start_outbound(CallKind::Callback, 88, 5, "0312345678", None, false, h.now)
        .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.center(CenterIn::OfferWithdrawn {
        contact: 88,
        agent: 5,
    });
    assert_eq!(hangups(&o), vec![agent]);
    assert!(ends(&o).is_empty());
    assert_eq!(h.sw.call_count(), 0);
    // The next offer of the same callback starts a new attempt.
    assert!(h
        .sw
        .start_outbound(CallKind::Callback, 88, 6, "0312345678", None, false, h.now)
        .is_ok());
}

#[test]
fn click_to_call_to_a_busy_customer_ends_the_contact() {
    let mut h = H::new();
    h.sw.start_outbound(
        CallKind::ClickToCall,
        99,
        5,
        "0612345678",
        None,
        false,
        h.now,
    )
    .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.answer(agent, 6000);
    assert!(
        !o.iter().any(|x| matches!(x, Out::Accept { .. })),
        "no ACD offer to confirm"
    );
    let mut trunk = phone(200);
    trunk.trunk = Some("carrier".into());
    let (cust, _) = h.complete_dial(&o, trunk);
    let o = h.sip(SipIn::Failed {
        leg: cust,
        code: 486,
        reason: "Busy Here".into(),
    });
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(
        ends(&o),
        vec![(99, Side::System, "customer_busy:486".to_string())]
    );
}

#[test]
fn an_agent_who_does_not_pick_up_their_own_outbound_call_ends_it() {
    let mut h = H::new();
    h.sw.start_outbound(
        CallKind::ClickToCall,
        99,
        5,
        "0612345678",
        None,
        false,
        h.now,
    )
    .unwrap();
    let o = h.drain();
    let (agent, _) = h.complete_dial(&o, phone(5));
    let o = h.advance(30_000);
    assert_eq!(hangups(&o), vec![agent]);
    assert_eq!(
        ends(&o),
        vec![(99, Side::Agent, "agent_unreachable:408".to_string())]
    );
}

#[test]
fn recording_pause_and_resume() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    h.sw.pause_recording(CONTACT, true, h.now).unwrap();
    let o = h.drain();
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordPause { paused: true, .. })));
    h.sw.pause_recording(CONTACT, false, h.now).unwrap();
    let o = h.drain();
    assert!(o
        .iter()
        .any(|x| matches!(x, Out::RecordPause { paused: false, .. })));
    assert!(h.sw.pause_recording(12345, true, h.now).is_err());
}

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

/// After the center rebuilt its state from the database (a refused step, a panic), it tells
/// the switch which calls' contacts are open. No offer stands any more: a phone still
/// ringing stops, even one that answered and waits for the center's confirmation.
#[test]
fn a_resync_stops_stale_rings_and_keeps_the_caller_waiting() {
    let mut h = H::new();
    h.queued_call();
    let o = h.center(CenterIn::Offer {
        contact: CONTACT,
        agent: 5,
        agent_name: "x".into(),
    });
    let (ring, _) = h.complete_dial(&o, phone(5));
    let o = h.answer(ring, 6000);
    assert!(o.contains(&Out::Accept {
        contact: CONTACT,
        agent: 5
    }));
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Waiting)],
        ours: vec![CONTACT],
    });
    assert_eq!(hangups(&o), vec![ring], "{o:?}");
    assert!(ends(&o).is_empty(), "the caller waits on: {o:?}");
    // A late confirmation of the old offer connects nothing.
    let o = h.center(CenterIn::AcceptResult {
        contact: CONTACT,
        agent: 5,
        ok: true,
    });
    assert_eq!(heard(&o, CUSTOMER), None, "{o:?}");
    // The ACD offers the caller again, and the call connects as usual.
    h.connect(6);
}

#[test]
fn a_resync_ends_what_the_other_side_no_longer_has() {
    let mut h = H::new();
    h.queued_call();
    // The center has a contact open whose call is gone, and does not list this call's.
    let o = h.center(CenterIn::Resync {
        live: vec![
            (9_999, LiveCall::Waiting),
            (4_444, LiveCall::CallbackWaiting),
        ],
        ours: vec![CONTACT],
    });
    let e = ends(&o);
    assert!(
        e.contains(&(9_999, Side::System, "call_lost".into())),
        "{o:?}"
    );
    assert!(
        !e.iter().any(|x| x.0 == 4_444),
        "a waiting callback request has no call"
    );
    assert!(
        !e.iter().any(|x| x.0 == CONTACT),
        "the center closed it: not ended twice"
    );
    assert!(hangups(&o).contains(&CUSTOMER), "the call ends: {o:?}");
    assert_eq!(h.sw.call_count(), 0);
}

#[test]
fn a_resync_that_agrees_with_a_connected_call_changes_nothing() {
    let mut h = H::new();
    h.queued_call();
    h.connect(5);
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Talking { agent: 5 })],
        ours: vec![CONTACT],
    });
    assert!(o.is_empty(), "{o:?}");
    // A call the center has somewhere the switch cannot follow ends, with a cause.
    let o = h.center(CenterIn::Resync {
        live: vec![(CONTACT, LiveCall::Talking { agent: 7 })],
        ours: vec![CONTACT],
    });
    assert_eq!(
        ends(&o),
        vec![(CONTACT, Side::System, "resync".to_string())]
    );
}
