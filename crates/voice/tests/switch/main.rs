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

mod calls;
mod features;
mod forward;
mod outbound;
mod resync;
mod waiting;
