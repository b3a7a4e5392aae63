//! Recovery, case by case: what start-up (no call survived) and run-time resync (every call
//! goes on) do with each kind of stored open contact.

use tsunagu_acd::Channel;
use tsunagu_contact::{recover, Rebuild, Recovery, Stored};
use tsunagu_domain::contact::ContactStatus as S;

const NOW: i64 = 1_767_571_200_000;
const ANSWERED: i64 = NOW - 60_000;
const ENDED: i64 = NOW - 10_000;

fn stored(status: S, channel: Channel) -> Stored {
    let with_agent = matches!(status, S::Offered | S::Connected | S::WrapUp);
    Stored {
        status,
        channel,
        queue_known: true,
        agent: with_agent.then_some(7),
        answered_at: matches!(status, S::Connected | S::WrapUp).then_some(ANSWERED),
        ended_at: (status == S::WrapUp).then_some(ENDED),
        callback: false,
    }
}

fn close(completed: bool, reason: &'static str) -> Recovery {
    Recovery::Close { completed, reason }
}

#[test]
fn at_start_up_calls_are_over_and_everything_else_waits_again() {
    let r = |s: Stored| recover(&s, Rebuild::Startup, NOW);
    // Calls: nothing survived the process.
    assert_eq!(
        r(stored(S::Ivr, Channel::Voice)),
        close(false, "server_restart")
    );
    assert_eq!(
        r(stored(S::Queued, Channel::Voice)),
        close(false, "server_restart")
    );
    assert_eq!(
        r(stored(S::Offered, Channel::Voice)),
        close(false, "server_restart")
    );
    // A conversation goes to after-call work, so its agent can record the outcome.
    assert_eq!(
        r(stored(S::Connected, Channel::Voice)),
        Recovery::WrapUp {
            agent: Some(7),
            since: NOW,
            call_ended: true
        }
    );
    // After-call work goes on from when it began.
    assert_eq!(
        r(stored(S::WrapUp, Channel::Voice)),
        Recovery::WrapUp {
            agent: Some(7),
            since: ENDED,
            call_ended: false
        }
    );
    // A callback request has no call yet: it waits, its offer gone.
    let callback = |status| Stored {
        callback: true,
        ..stored(status, Channel::Voice)
    };
    assert_eq!(r(callback(S::Queued)), Recovery::Wait { requeued: false });
    assert_eq!(r(callback(S::Offered)), Recovery::Wait { requeued: true });
    // Other channels survive a restart.
    for ch in [Channel::Chat, Channel::Email, Channel::Task] {
        assert_eq!(
            r(stored(S::Queued, ch)),
            Recovery::Wait { requeued: false },
            "{ch:?}"
        );
        assert_eq!(
            r(stored(S::Offered, ch)),
            Recovery::Wait { requeued: true },
            "{ch:?}"
        );
        assert_eq!(
            r(stored(S::Connected, ch)),
            Recovery::Connected {
                agent: Some(7),
                since: ANSWERED
            },
            "{ch:?}"
        );
        assert_eq!(
            r(stored(S::WrapUp, ch)),
            Recovery::WrapUp {
                agent: Some(7),
                since: ENDED,
                call_ended: false
            },
            "{ch:?}"
        );
    }
}

/// Regression (issue 7, fault 1): a run-time change rebuilt the center as if after a crash,
/// closing every waiting caller and ending every conversation. Resync keeps them all.
#[test]
fn at_run_time_every_contact_stays_where_it_is() {
    let r = |s: Stored| recover(&s, Rebuild::Resync, NOW);
    for ch in [Channel::Voice, Channel::Chat] {
        assert_eq!(r(stored(S::Ivr, ch)), Recovery::Unchanged, "{ch:?}");
        assert_eq!(r(stored(S::Queued, ch)), Recovery::Wait { requeued: false });
        assert_eq!(r(stored(S::Offered, ch)), Recovery::Wait { requeued: true });
        assert_eq!(
            r(stored(S::Connected, ch)),
            Recovery::Connected {
                agent: Some(7),
                since: ANSWERED
            }
        );
        assert_eq!(
            r(stored(S::WrapUp, ch)),
            Recovery::WrapUp {
                agent: Some(7),
                since: ENDED,
                call_ended: false
            }
        );
    }
}

#[test]
fn a_contact_whose_queue_is_gone_is_closed() {
    for mode in [Rebuild::Startup, Rebuild::Resync] {
        let gone = |status, ch| Stored {
            queue_known: false,
            ..stored(status, ch)
        };
        assert_eq!(
            recover(&gone(S::Queued, Channel::Chat), mode, NOW),
            close(false, "queue_removed")
        );
        // In the IVR it had no queue yet: the restart (or resync) is the cause.
        assert_eq!(
            recover(&gone(S::Ivr, Channel::Voice), mode, NOW),
            close(false, "server_restart")
        );
        // A conversation whose queue is gone is over, as talked.
        assert_eq!(
            recover(&gone(S::Connected, Channel::Chat), mode, NOW),
            close(true, "queue_removed")
        );
    }
}

#[test]
fn missing_facts_do_not_invent_times() {
    // Connected without an answer time (stored before answering was recorded): since now;
    // at start-up such a call is closed as interrupted, not completed.
    let unanswered = Stored {
        answered_at: None,
        ..stored(S::Connected, Channel::Chat)
    };
    assert_eq!(
        recover(&unanswered, Rebuild::Resync, NOW),
        Recovery::Connected {
            agent: Some(7),
            since: NOW
        }
    );
    let call = Stored {
        answered_at: None,
        ..stored(S::Connected, Channel::Voice)
    };
    assert_eq!(
        recover(&call, Rebuild::Startup, NOW),
        close(false, "server_restart")
    );
    // Connected without an agent: the shell's router refuses it (closed as recovery_failed).
    let no_agent = Stored {
        agent: None,
        ..stored(S::Connected, Channel::Chat)
    };
    assert_eq!(
        recover(&no_agent, Rebuild::Startup, NOW),
        Recovery::Connected {
            agent: None,
            since: ANSWERED
        }
    );
    // Final contacts are left alone.
    for s in [S::Completed, S::Abandoned, S::TimedOut, S::Interrupted] {
        assert_eq!(
            recover(&stored(s, Channel::Task), Rebuild::Startup, NOW),
            Recovery::Unchanged
        );
    }
}
