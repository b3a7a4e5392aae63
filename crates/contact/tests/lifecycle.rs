//! Every way a contact can end or be wrapped up, and every request the rules refuse.

use tsunagu_contact::lifecycle::{
    end, handled_by, still_going, wrap_up, Current, EndRequest, Ending, LifecycleError, WrapUp,
};
use tsunagu_domain::contact::{ContactStatus as S, EventKind as E};

fn contact(status: S, agent: Option<i64>) -> Current {
    Current {
        id: 7,
        status,
        agent,
        has_disposition: false,
    }
}

fn req(agent: Option<i64>, by_user: Option<i64>, reason: Option<&str>) -> EndRequest {
    EndRequest {
        agent,
        by_user,
        reason: reason.map(str::to_string),
        no_wrap_up: false,
    }
}

fn outcome(e: &Ending) -> (S, E, Option<&str>) {
    (e.status, e.event, e.end_reason.as_deref())
}

#[test]
fn a_conversation_ends_in_after_call_work_or_completes_when_the_queue_has_none() {
    let c = contact(S::Connected, Some(3));
    let e = end(&c, &req(Some(3), Some(30), None)).unwrap();
    assert_eq!(outcome(&e), (S::WrapUp, E::Ended, None));
    assert_eq!(e.event_agent, Some(3), "the handler is named on the event");
    assert!(e.leave_router && !e.complete_now);

    let hung_up = end(&c, &req(None, None, Some("customer:hangup"))).unwrap();
    assert_eq!(
        outcome(&hung_up),
        (S::WrapUp, E::Ended, Some("customer:hangup"))
    );

    let mut no_acw = req(Some(3), Some(30), None);
    no_acw.no_wrap_up = true;
    assert!(end(&c, &no_acw).unwrap().complete_now);
}

#[test]
fn the_customer_leaving_a_queue_is_an_abandon() {
    for status in [S::Queued, S::Offered] {
        let c = contact(status, None);
        let e = end(&c, &req(None, None, Some("customer:hangup"))).unwrap();
        assert_eq!(
            outcome(&e),
            (S::Abandoned, E::Abandoned, Some("customer:hangup"))
        );
        assert!(e.leave_router);
        // No reason given: a cancellation nobody explained, still the customer's side.
        let e = end(&c, &req(None, None, None)).unwrap();
        assert_eq!(outcome(&e), (S::Abandoned, E::Abandoned, Some("cancelled")));
        // A person says the customer left: the customer's abandon too.
        let e = end(&c, &req(None, Some(30), Some("customer_left"))).unwrap();
        assert_eq!(
            outcome(&e),
            (S::Abandoned, E::Abandoned, Some("customer_left"))
        );
    }
}

#[test]
fn the_center_or_a_person_ending_a_waiting_contact_interrupts_it() {
    let c = contact(S::Queued, None);
    for reason in [
        "system:call_lost",
        "supervisor:hangup",
        "server_restart",
        "shutdown",
    ] {
        let e = end(&c, &req(None, None, Some(reason))).unwrap();
        assert_eq!(outcome(&e), (S::Interrupted, E::Interrupted, Some(reason)));
        assert_eq!(e.event_agent, None);
    }
    // A supervisor cancelling, with or without a reason.
    let e = end(&c, &req(None, Some(30), None)).unwrap();
    assert_eq!(
        outcome(&e),
        (S::Interrupted, E::Interrupted, Some("cancelled"))
    );
    let e = end(&c, &req(None, Some(30), Some("resolved elsewhere"))).unwrap();
    assert_eq!(
        outcome(&e),
        (S::Interrupted, E::Interrupted, Some("resolved elsewhere"))
    );
    // The IVR's own endings are not interruptions.
    for reason in ["system:ivr", "system:forwarded_external"] {
        let e = end(&c, &req(None, None, Some(reason))).unwrap();
        assert_eq!(e.status, S::Abandoned, "{reason}");
    }
}

#[test]
fn a_call_the_ivr_finished_itself_is_completed_and_never_was_in_a_queue() {
    let c = contact(S::Ivr, None);
    let e = end(&c, &req(None, None, Some("system:ivr"))).unwrap();
    assert_eq!(outcome(&e), (S::Completed, E::Ended, Some("system:ivr")));
    assert!(!e.leave_router, "an IVR call is not in the router");
    // The caller hanging up in the IVR is an abandon of the IVR.
    let e = end(&c, &req(None, None, Some("caller_hangup_ivr"))).unwrap();
    assert_eq!(
        outcome(&e),
        (S::Abandoned, E::Abandoned, Some("caller_hangup_ivr"))
    );
    assert!(!e.leave_router);
    let e = end(&c, &req(None, None, None)).unwrap();
    assert_eq!(e.status, S::Abandoned);
}

#[test]
fn agents_end_only_their_own_conversation_and_nothing_ends_twice() {
    let c = contact(S::Connected, Some(3));
    assert_eq!(
        end(&c, &req(Some(4), Some(40), None)),
        Err(LifecycleError::NotConnectedTo {
            contact: 7,
            agent: 4
        })
    );
    let waiting = contact(S::Queued, None);
    assert_eq!(
        still_going(&waiting, Some(3)),
        Err(LifecycleError::NotConnectedTo {
            contact: 7,
            agent: 3
        }),
        "an agent cannot end a contact that is not theirs yet"
    );
    let ended = contact(S::WrapUp, Some(3));
    assert_eq!(
        end(&ended, &req(None, Some(30), None)),
        Err(LifecycleError::AlreadyEnded { contact: 7 })
    );
    assert_eq!(
        LifecycleError::AlreadyEnded { contact: 7 }.to_string(),
        "contact 7 has already ended",
        "the API's 409 text"
    );
}

#[test]
fn wrap_up_completes_after_call_work_or_records_a_late_disposition_once() {
    let acw = contact(S::WrapUp, Some(3));
    assert_eq!(wrap_up(&acw, 3, true), Ok(WrapUp::Complete));
    assert_eq!(wrap_up(&acw, 3, false), Ok(WrapUp::Complete));
    assert_eq!(
        handled_by(&acw, 4),
        Err(LifecycleError::NotHandledBy {
            contact: 7,
            agent: 4
        })
    );
    assert_eq!(
        wrap_up(&acw, 4, true),
        Err(LifecycleError::NotHandledBy {
            contact: 7,
            agent: 4
        })
    );

    // The wrap-up timer completed it already.
    let done = contact(S::Completed, Some(3));
    assert_eq!(wrap_up(&done, 3, true), Ok(WrapUp::LateDisposition));
    assert_eq!(wrap_up(&done, 3, false), Ok(WrapUp::Nothing));
    let disposed = Current {
        has_disposition: true,
        ..done
    };
    assert_eq!(
        wrap_up(&disposed, 3, true),
        Err(LifecycleError::NotInWrapUp { contact: 7 }),
        "a disposition given once is not replaced"
    );
    assert_eq!(wrap_up(&disposed, 3, false), Ok(WrapUp::Nothing));

    for status in [
        S::Ivr,
        S::Queued,
        S::Offered,
        S::Connected,
        S::Abandoned,
        S::Interrupted,
        S::TimedOut,
    ] {
        assert_eq!(
            wrap_up(&contact(status, Some(3)), 3, true),
            Err(LifecycleError::NotInWrapUp { contact: 7 }),
            "{status:?}"
        );
    }
}
