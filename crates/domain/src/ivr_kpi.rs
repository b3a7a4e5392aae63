//! IVR figures (自動音声応答の指標): what became of the calls that came in, before any queue.
//!
//! Queue KPIs (`kpi`) start when a contact enters a queue; a caller who hangs up in the
//! menu never gets there. These figures count every inbound call and say how it left the
//! IVR: to a queue, hung up (IVR abandon, 放棄), finished by the IVR itself (information
//! played, closed hours, a flow hang-up), forwarded to an external number, a voicemail or a
//! callback request — or is still in the IVR.

use serde::Serialize;

/// One inbound call's contact, as the IVR figures need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IvrCall {
    pub created_at: i64,
    /// When it entered a queue (None: it never did).
    pub queued_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IvrKpis {
    /// Inbound calls that came in during the range.
    pub calls: u64,
    /// Reached a queue (answered or not: the queue KPIs say what happened next).
    pub to_queue: u64,
    /// The caller hung up in the IVR (IVR abandon).
    pub abandoned: u64,
    /// Finished by the IVR itself: self-service, closed hours, a flow hang-up.
    pub completed: u64,
    /// Forwarded to an external number by the flow.
    pub forwarded: u64,
    pub voicemail: u64,
    pub callback: u64,
    /// Ended otherwise before a queue (refused, failed, server restart, …).
    pub other: u64,
    /// Still in the IVR.
    pub in_ivr: u64,
    /// abandoned ÷ (calls − in_ivr); None when no call has left the IVR.
    pub abandon_rate: Option<f64>,
    /// (completed + forwarded + voicemail + callback) ÷ (calls − in_ivr): calls the IVR
    /// handled without an agent's live answer.
    pub contained_rate: Option<f64>,
    /// Average time in the IVR of the calls that left it, seconds.
    pub avg_ivr_secs: Option<f64>,
}

/// The IVR figures of `calls`.
pub fn ivr_kpis(calls: &[IvrCall]) -> IvrKpis {
    let mut k = IvrKpis::default();
    let (mut ivr_ms, mut left) = (0i64, 0u64);
    for c in calls {
        k.calls += 1;
        let left_at = match (c.queued_at, c.ended_at) {
            (Some(q), _) => {
                k.to_queue += 1;
                Some(q)
            }
            (None, Some(e)) => {
                let reason = c.end_reason.as_deref().unwrap_or("");
                if reason == "caller_hangup_ivr" {
                    k.abandoned += 1;
                } else if reason.contains("voicemail") {
                    k.voicemail += 1;
                } else if reason.contains("callback") {
                    k.callback += 1;
                } else if reason.ends_with("forwarded_external") {
                    k.forwarded += 1;
                } else if reason.starts_with("system:ivr") {
                    k.completed += 1;
                } else {
                    k.other += 1;
                }
                Some(e)
            }
            (None, None) => {
                k.in_ivr += 1;
                None
            }
        };
        if let Some(t) = left_at {
            ivr_ms += (t - c.created_at).max(0);
            left += 1;
        }
    }
    let done = k.calls - k.in_ivr;
    if done > 0 {
        k.abandon_rate = Some(k.abandoned as f64 / done as f64);
        k.contained_rate =
            Some((k.completed + k.forwarded + k.voicemail + k.callback) as f64 / done as f64);
    }
    if left > 0 {
        k.avg_ivr_secs = Some(ivr_ms as f64 / left as f64 / 1000.0);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(queued: Option<i64>, ended: Option<i64>, reason: &str) -> IvrCall {
        IvrCall {
            created_at: 0,
            queued_at: queued,
            ended_at: ended,
            end_reason: (!reason.is_empty()).then(|| reason.to_string()),
        }
    }

    #[test]
    fn every_call_is_counted_once_by_how_it_left() {
        let calls = [
            call(Some(20_000), Some(90_000), "caller_hangup_queue"),
            call(Some(10_000), Some(300_000), "agent:bye"),
            call(None, Some(5_000), "caller_hangup_ivr"),
            call(None, Some(30_000), "system:ivr"),
            call(None, Some(40_000), "system:forwarded_external"),
            call(None, Some(60_000), "caller_left_voicemail"),
            call(None, Some(15_000), "callback_requested"),
            call(None, Some(1_000), "system:server_restart"),
            call(None, None, ""),
        ];
        let k = ivr_kpis(&calls);
        assert_eq!(k.calls, 9);
        assert_eq!(
            (
                k.to_queue,
                k.abandoned,
                k.completed,
                k.forwarded,
                k.voicemail,
                k.callback
            ),
            (2, 1, 1, 1, 1, 1)
        );
        assert_eq!((k.other, k.in_ivr), (1, 1));
        assert_eq!(k.abandon_rate, Some(1.0 / 8.0));
        assert_eq!(k.contained_rate, Some(4.0 / 8.0));
        // Time in the IVR ends at the queue for queued calls: 20 + 10 + 5 + 30 + 40 + 60 + 15 + 1 s.
        assert_eq!(k.avg_ivr_secs, Some(181.0 / 8.0));
    }

    #[test]
    fn nothing_finished_gives_no_rates() {
        let k = ivr_kpis(&[call(None, None, "")]);
        assert_eq!(
            (k.abandon_rate, k.contained_rate, k.avg_ivr_secs),
            (None, None, None)
        );
        assert_eq!(ivr_kpis(&[]), IvrKpis::default());
    }
}
