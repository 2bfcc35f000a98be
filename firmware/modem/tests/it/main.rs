//! Integration tests of the AT engine: transcripts replayed against the real `Runner`/`Control`.

mod transcript;

macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                transcript::check_file(concat!(stringify!($name), ".txt"));
            }
        )*
    };
}

transcripts!(
    ack_before_delete,
    cms_error_after_body,
    ec25_lte_urcs_between,
    generic_pin_configured,
    huawei_rssi_noise,
    left_in_sms_input,
    lost_prompt,
    pin_wrong_then_configured,
    registration_lost_on_health_poll,
    reboot_mid_send,
    registration_denied,
    sim800_power_on_send_receive,
    sim_pulled_mid_session,
    stored_at_startup,
    unresponsive_then_power_cycle,
    urc_storm_while_sending,
);
