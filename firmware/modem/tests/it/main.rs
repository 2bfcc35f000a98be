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

transcripts!(sim800_power_on_send_receive);
