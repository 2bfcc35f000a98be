//! `pick` rule by rule: one line per case, `check(config, carriers, message, expect)`.

use domain::UnixMillis;

use crate::support::{NOW, POOLS, check, check_at};

/// Two CMCC links (covering CMCC only), one Unicom link (covering anything), two bank slots.
const STD: &str = "
    cmcc-1 smpp
    cmcc-2 smpp
    unicom-1 smpp
    slot1 bank net=unicom
    slot2 bank net=cmcc
";

#[test]
#[rustfmt::skip]
fn destination_prefix_selects_the_operator_pool() {
    check(POOLS, STD, "to=13800138000", "send cmcc-1 via own_pool");
    check(POOLS, STD, "to=+8613800138000", "send cmcc-1 via own_pool");
    check(POOLS, STD, "to=13012345678", "send unicom-1 via own_pool");
    // Telecom has no pool: any link that covers it, as another pool.
    check(POOLS, STD, "to=18912345678", "send unicom-1 via other_pools");
    // A number of no known operator goes only to carriers that cover anything.
    check(POOLS, STD, "to=+85291234567", "send unicom-1 via other_pools");
    check(POOLS, "cmcc-1 smpp", "to=+85291234567", "fail no route: no carrier covers numbers of no known operator");
    check(POOLS, "cmcc-1 smpp", "to=13012345678", "fail no route: no carrier covers operator unicom");
    check(POOLS, "", "to=13800138000", "fail no route: no carrier covers operator cmcc");
}

#[test]
#[rustfmt::skip]
fn failed_attempts_rotate_same_pool_then_other_pools_then_modems() {
    check(POOLS, STD, "tried=cmcc-1", "send cmcc-2 via own_pool");
    check(POOLS, STD, "tried=cmcc-2", "send cmcc-1 via own_pool");
    check(POOLS, STD, "tried=cmcc-1,cmcc-2", "send unicom-1 via other_pools");
    // Modems: the SIM on the destination's own network first.
    check(POOLS, STD, "tried=cmcc-1,cmcc-2,unicom-1", "send slot2 via modems");
    check(POOLS, STD, "tried=cmcc-1,cmcc-2,unicom-1,slot2", "send slot1 via modems");
    check(POOLS, STD, "to=13012345678 tried=unicom-1", "send slot1 via modems");
}

#[test]
#[rustfmt::skip]
fn rounds_end_when_every_usable_carrier_was_tried() {
    let all = "tried=cmcc-1,cmcc-2,unicom-1,slot1,slot2";
    // Backoff 30 s nominal before round 1, jitter 0 → half of it.
    check(POOLS, STD, all, "round 1 +15000");
    check(POOLS, STD, &format!("{all} jitter=15000"), "round 1 +30000");
    check(POOLS, STD, &format!("{all} round=1"), "round 2 +30000");
    // The last round (max_rounds = 3) fails.
    check(POOLS, STD, &format!("{all} round=2"), "fail no route: every carrier failed it in each of 3 rounds");
    check(POOLS, STD, "round=3", "fail no route: gave up after 3 rounds");
    check(POOLS, STD, "attempts=19", "send cmcc-1 via own_pool");
    check(POOLS, STD, "attempts=20", "fail no route: gave up after 20 attempts");
    // Untried carriers that are down do not hold the round open.
    check(POOLS, "cmcc-1 smpp\ncmcc-2 smpp down", "tried=cmcc-1", "round 1 +15000");
    // The round's start is capped at the expiry.
    check(POOLS, STD, &format!("{all} exp=+5000"), "round 1 +5000");
}

#[test]
#[rustfmt::skip]
fn unusable_carriers_are_skipped() {
    check(POOLS, "cmcc-1 smpp down\ncmcc-2 smpp", "", "send cmcc-2 via own_pool");
    check(POOLS, "cmcc-1 smpp off\ncmcc-2 smpp", "", "send cmcc-2 via own_pool");
    check(POOLS, "cmcc-1 smpp open\ncmcc-2 smpp", "", "send cmcc-2 via own_pool");
    // An open pool falls through to the next tier at once.
    check(POOLS, "cmcc-1 smpp open\ncmcc-2 smpp open\nunicom-1 smpp", "", "send unicom-1 via other_pools");
    // Nothing usable: wait for the breaker's cool-down, or a recheck for down/disabled ones.
    check(POOLS, "cmcc-1 smpp open\ncmcc-2 smpp open", "", "wait +30000 no carrier available");
    check(POOLS, "cmcc-1 smpp open\ncmcc-2 smpp down", "", "wait +1000 no carrier available");
    check(POOLS, "cmcc-1 smpp off", "", "wait +1000 no carrier available");
    check(POOLS, "cmcc-1 smpp open", "exp=+10000", "wait +10000 no carrier available");
    // Half-open: one probe, only when nothing else is in flight.
    check(POOLS, "cmcc-1 smpp half", "", "send cmcc-1 via own_pool");
    check(POOLS, "cmcc-1 smpp half inflight=1", "", "wait +1000 no carrier available");
}

#[test]
#[rustfmt::skip]
fn a_busy_better_tier_is_waited_for_unless_urgent() {
    check(POOLS, "cmcc-1 smpp full\ncmcc-2 smpp", "", "send cmcc-2 via own_pool");
    let busy = "cmcc-1 smpp full\ncmcc-2 smpp full\nunicom-1 smpp\nslot2 bank net=cmcc";
    check(POOLS, busy, "", "wait +1000 carriers busy");
    check(POOLS, busy, "prio=9", "wait +1000 carriers busy");
    let spill = format!("[routing]\nspill_over_priority = 9\n{POOLS}");
    check(&spill, busy, "prio=9", "send unicom-1 via other_pools");
    check(&spill, busy, "prio=8", "wait +1000 carriers busy");
    // A paused (throttled) pool holds back lower tiers too, until the pause ends.
    let paused = "cmcc-1 smpp paused\ncmcc-2 smpp paused\nunicom-1 smpp";
    check(POOLS, paused, "", "wait +5000 carriers throttled");
    // Modems of one tier all get work: a busy slot does not hold back a free one.
    check(POOLS, "slot2 bank net=cmcc full\nslot1 bank net=unicom", "", "send slot1 via modems");
}

#[test]
#[rustfmt::skip]
fn limits_and_rates_are_respected() {
    // Default modem limit: 10 a minute. The sends were 1 s ago; they leave the window after
    // 60 s (5 s slices).
    check(POOLS, "slot1 bank sent=10\nslot2 bank", "", "send slot2 via modems");
    check(POOLS, "slot1 bank sent=10\nslot2 bank sent=10", "", "wait +60000 carriers at their send limits");
    let hourly = "[routing.modems]\nper_minute = 100\nper_hour = 3";
    check(hourly, "slot1 bank sent=3", "", "wait +3600000 carriers at their send limits");
    // A SIM at its limit does not hold back other tiers; a round over SMPP comes back sooner.
    check(POOLS, "cmcc-1 smpp\nslot1 bank sent=10", "tried=cmcc-1", "round 1 +15000");
    check(hourly, "cmcc-1 smpp\nslot1 bank sent=3", "tried=cmcc-1 round=2", "wait +3600000 carriers at their send limits");
    // Messages per second: 4/s with a burst of 1 → next token in 250 ms.
    let rate = "[routing.smpp]\nper_second = 4\nburst = 1";
    check(rate, "a smpp empty", "", "wait +250 carriers throttled");
    check(rate, "a smpp empty\nb smpp", "", "send b via other_pools");
    // A full modem tier means waiting, not failing.
    check(POOLS, "slot1 bank full\nslot2 bank full", "", "wait +1000 carriers busy");
}

#[test]
#[rustfmt::skip]
fn health_then_cost_then_load_then_rotation() {
    // A slow link loses to a fast one.
    check(POOLS, "cmcc-1 smpp lat=2000\ncmcc-2 smpp lat=50", "", "send cmcc-2 via own_pool");
    // A failing link loses too.
    check(POOLS, "cmcc-1 smpp fail\ncmcc-2 smpp lat=50", "", "send cmcc-2 via own_pool");
    // Within one health band (scores 901 and 909), the less loaded link wins.
    check(POOLS, "cmcc-1 smpp lat=55\ncmcc-2 smpp lat=50 inflight=3", "", "send cmcc-1 via own_pool");
    check(POOLS, "cmcc-1 smpp inflight=5\ncmcc-2 smpp inflight=1", "", "send cmcc-2 via own_pool");
    // Load is relative to the window: 5 of 20 is less than 3 of 10.
    let windows = "[routing.carriers.a]\nwindow = 20\n[routing.carriers.b]\nwindow = 10";
    check(windows, "a smpp inflight=5\nb smpp inflight=3", "", "send a via other_pools");
    // Cost before load.
    let cost = "[routing.carriers.a]\ncost = 2\n[routing.carriers.b]\ncost = 1";
    check(cost, "a smpp\nb smpp inflight=9", "", "send b via other_pools");
    // Equal carriers: the rotation cursor decides.
    let three = "s1 bank\ns2 bank\ns3 bank";
    check(POOLS, three, "", "send s1 via modems");
    check(POOLS, three, "rot=1", "send s2 via modems");
    check(POOLS, three, "rot=5", "send s3 via modems");
    check(POOLS, three, "rot=2 tried=s3", "send s1 via modems");
    // A SIM with more of its limits used is more loaded.
    check(POOLS, "s1 bank sent=3\ns2 bank sent=1", "", "send s2 via modems");
}

#[test]
#[rustfmt::skip]
fn modems_can_be_the_primary_route_for_an_operator() {
    let config = r#"
        [routing.operators.cmcc]
        pool = ["cmcc-1"]
        order = ["modems", "own_pool", "other_pools"]
        [routing.operators.unicom]
        pool = ["unicom-1"]
    "#;
    let carriers = "cmcc-1 smpp\nunicom-1 smpp\nslot1 bank net=unicom\nslot2 bank net=cmcc";
    check(config, carriers, "to=13800138000", "send slot2 via modems");
    check(config, carriers, "to=13800138000 tried=slot2", "send slot1 via modems");
    check(config, carriers, "to=13800138000 tried=slot2,slot1", "send cmcc-1 via own_pool");
    // Other operators keep the default order.
    check(config, carriers, "to=13012345678", "send unicom-1 via own_pool");
    // An operator that must never use modems.
    let strict = "[routing.operators.cmcc]\npool = [\"cmcc-1\"]\norder = [\"own_pool\"]";
    check(strict, carriers, "tried=cmcc-1", "round 1 +15000");
    check(strict, "slot1 bank", "", "fail no route: no carrier covers operator cmcc");
}

#[test]
#[rustfmt::skip]
fn resends_avoid_the_failed_operator_channel() {
    check(POOLS, STD, "avoid=cmcc", "send unicom-1 via other_pools");
    // Modems are channels of their SIM's network.
    check(POOLS, STD, "avoid=cmcc,unicom tried=cmcc-1", "fail no route: no carrier of another operator channel covers operator cmcc");
    check(POOLS, "slot1 bank net=cmcc\nslot2 bank", "avoid=cmcc", "send slot2 via modems");
}

#[test]
#[rustfmt::skip]
fn time_rules_come_first() {
    check(POOLS, STD, "nb=+5000", "wait +5000 scheduled for later");
    check(POOLS, STD, "nb=-5000", "send cmcc-1 via own_pool");
    check(POOLS, STD, "exp=0", "expire");
    check(POOLS, STD, "exp=-1 round=9", "expire");
    check(POOLS, STD, "exp=+1", "send cmcc-1 via own_pool");
    // A wait never runs past the expiry.
    check(POOLS, STD, "nb=+5000 exp=+3000", "wait +3000 scheduled for later");
}

#[test]
#[rustfmt::skip]
fn quiet_hours_hold_bulk_messages_until_morning() {
    let config = format!(
        "[routing.quiet_hours]\nstart = \"22:00\"\nend = \"08:00\"\nutc_offset = \"+08:00\"\nmax_priority = 2\n{POOLS}"
    );
    let eleven_pm = UnixMillis(NOW.0 + 11 * 3_600_000); // 23:00 in Beijing
    let nine_hours = 9 * 3_600_000; // until 08:00
    check(&config, STD, "bulk", "send cmcc-1 via own_pool");
    check_at(&config, STD, "bulk", eleven_pm, &format!("wait +{nine_hours} quiet hours"));
    check_at(&config, STD, "prio=2", eleven_pm, &format!("wait +{nine_hours} quiet hours"));
    check_at(&config, STD, "prio=3", eleven_pm, "send cmcc-1 via own_pool");
    // After midnight, the same morning.
    let one_am = UnixMillis(NOW.0 + 13 * 3_600_000);
    check_at(&config, STD, "bulk", one_am, &format!("wait +{} quiet hours", 7 * 3_600_000));
    let eight_am = UnixMillis(NOW.0 + 20 * 3_600_000);
    check_at(&config, STD, "bulk", eight_am, "send cmcc-1 via own_pool");
}
