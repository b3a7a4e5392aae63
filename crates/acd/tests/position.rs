//! A caller's place in the queue comes from the router's own rule (priority-weighted
//! arrival, then arrival order), so what the caller is told and whom the router serves
//! next never disagree.

mod common;
use common::*;
use tsunagu_acd::*;

const V: Channel = Channel::Voice;

#[test]
fn the_place_in_the_queue_follows_the_routing_rule() {
    let mut h = Harness::new();
    h.simple_queue(1, Strategy::LongestIdle);
    h.simple_queue(2, Strategy::LongestIdle);
    h.arrive(10, 1, V);
    h.advance(S);
    h.arrive(11, 1, V);
    h.advance(S);
    h.arrive(12, 2, V); // another queue: not counted
    h.advance(S);
    // Later, but with a priority that outweighs its lateness: it goes first.
    let step_ms = h.r.config().priority_step_ms;
    assert!(
        step_ms > 3 * S,
        "the test assumes a priority step above 3 s"
    );
    h.arrive_with(13, 1, V, 1, vec![]);
    let pos = |h: &Harness, id| h.r.queue_position(ContactId(id));
    assert_eq!(
        (pos(&h, 13), pos(&h, 10), pos(&h, 11), pos(&h, 12)),
        (Some(1), Some(2), Some(3), Some(1))
    );
    // An agent free for queue 1 is offered the first in that order; an offered contact
    // keeps its place; a connected one has none.
    h.agent(1, &[(1, 1)], &[]);
    let o = offers(&h.ready(1));
    assert_eq!(o, vec![(13, 1)]);
    assert_eq!(pos(&h, 13), Some(1));
    assert_eq!(pos(&h, 10), Some(2));
    h.accept(13, 1);
    assert_eq!(pos(&h, 13), None);
    assert_eq!((pos(&h, 10), pos(&h, 11)), (Some(1), Some(2)));
    assert_eq!(pos(&h, 99), None, "unknown contact");
}
