//! Typed final error results: `+CME ERROR` (3GPP TS 27.007 9.2) and `+CMS ERROR` (TS 27.005 3.2.5).
//!
//! Modems report either the numeric code (`AT+CMEE=1`) or the verbose text (`AT+CMEE=2`, and some
//! firmware regardless of the setting); both parse to the same variant. A code that is not named
//! here is kept as `Other(code)`, and a text we do not recognise as `Unrecognised`, so no error
//! from the modem is ever turned into a different one.

use core::fmt;

/// Case-insensitive ASCII comparison of a modem's text with one of our canonical texts.
fn text_eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Parses a decimal code of at most five digits, without overflow.
pub(crate) fn parse_u16(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    u16::try_from(v).ok()
}

macro_rules! coded_error {
    (
        $(#[$meta:meta])*
        $name:ident, $prefix:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A numeric code this crate does not name.
            Other(u16),
            /// A verbose text this crate does not recognise (the code is unknown).
            Unrecognised,
        }

        impl $name {
            /// The error for a numeric code.
            pub fn from_code(code: u16) -> Self {
                match code {
                    $( $code => Self::$variant, )*
                    other => Self::Other(other),
                }
            }

            /// The numeric code, if known.
            pub fn code(self) -> Option<u16> {
                match self {
                    $( Self::$variant => Some($code), )*
                    Self::Other(c) => Some(c),
                    Self::Unrecognised => None,
                }
            }

            /// The error for a verbose text (case-insensitive), if it is one of the named texts.
            fn from_text(text: &[u8]) -> Self {
                $( if text_eq(text, $text) { return Self::$variant; } )*
                Self::Unrecognised
            }

            /// Parses the part after `+CME ERROR:` / `+CMS ERROR:`: a number or a verbose text.
            pub fn parse(rest: &[u8]) -> Self {
                let rest = rest.trim_ascii();
                match parse_u16(rest) {
                    Some(code) => Self::from_code(code),
                    None => Self::from_text(rest),
                }
            }

            /// The canonical text, or `None` for `Other`/`Unrecognised`.
            pub fn text(self) -> Option<&'static str> {
                match self {
                    $( Self::$variant => Some($text), )*
                    Self::Other(_) | Self::Unrecognised => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match (self.code(), self.text()) {
                    (Some(c), Some(t)) => write!(f, concat!($prefix, " {} ({})"), c, t),
                    (Some(c), None) => write!(f, concat!($prefix, " {}"), c),
                    _ => f.write_str(concat!($prefix, " (unrecognised text)")),
                }
            }
        }

        impl core::error::Error for $name {}
    };
}

coded_error! {
    /// `+CME ERROR: <err>`: mobile equipment errors, 3GPP TS 27.007 9.2.1 (general) and 9.2.2 (GPRS).
    CmeError, "+CME ERROR:" {
        /// 0
        PhoneFailure = 0, "phone failure";
        /// 1
        NoConnection = 1, "no connection to phone";
        /// 2
        AdaptorLinkReserved = 2, "phone-adaptor link reserved";
        /// 3
        OperationNotAllowed = 3, "operation not allowed";
        /// 4
        OperationNotSupported = 4, "operation not supported";
        /// 5
        PhSimPinRequired = 5, "PH-SIM PIN required";
        /// 6
        PhFsimPinRequired = 6, "PH-FSIM PIN required";
        /// 7
        PhFsimPukRequired = 7, "PH-FSIM PUK required";
        /// 10: the SIM is absent (or was pulled).
        SimNotInserted = 10, "SIM not inserted";
        /// 11
        SimPinRequired = 11, "SIM PIN required";
        /// 12
        SimPukRequired = 12, "SIM PUK required";
        /// 13
        SimFailure = 13, "SIM failure";
        /// 14: transient, retry later.
        SimBusy = 14, "SIM busy";
        /// 15
        SimWrong = 15, "SIM wrong";
        /// 16: the PIN was rejected; never retry it blindly (the SIM locks after three).
        IncorrectPassword = 16, "incorrect password";
        /// 17
        SimPin2Required = 17, "SIM PIN2 required";
        /// 18
        SimPuk2Required = 18, "SIM PUK2 required";
        /// 20
        MemoryFull = 20, "memory full";
        /// 21
        InvalidIndex = 21, "invalid index";
        /// 22
        NotFound = 22, "not found";
        /// 23
        MemoryFailure = 23, "memory failure";
        /// 24
        TextTooLong = 24, "text string too long";
        /// 25
        InvalidTextChars = 25, "invalid characters in text string";
        /// 26
        DialStringTooLong = 26, "dial string too long";
        /// 27
        InvalidDialChars = 27, "invalid characters in dial string";
        /// 30
        NoNetworkService = 30, "no network service";
        /// 31
        NetworkTimeout = 31, "network timeout";
        /// 32
        EmergencyOnly = 32, "network not allowed - emergency calls only";
        /// 40
        NetPersPinRequired = 40, "network personalization PIN required";
        /// 41
        NetPersPukRequired = 41, "network personalization PUK required";
        /// 42
        NetSubsetPersPinRequired = 42, "network subset personalization PIN required";
        /// 43
        NetSubsetPersPukRequired = 43, "network subset personalization PUK required";
        /// 44
        ProviderPersPinRequired = 44, "service provider personalization PIN required";
        /// 45
        ProviderPersPukRequired = 45, "service provider personalization PUK required";
        /// 46
        CorporatePersPinRequired = 46, "corporate personalization PIN required";
        /// 47
        CorporatePersPukRequired = 47, "corporate personalization PUK required";
        /// 48
        HiddenKeyRequired = 48, "hidden key required";
        /// 49
        EapNotSupported = 49, "EAP method not supported";
        /// 50
        IncorrectParameters = 50, "incorrect parameters";
        /// 100
        Unknown = 100, "unknown";
    }
}

impl CmeError {
    /// The SIM is gone (pulled, or failed): the slot goes to its no-SIM state.
    pub fn is_sim_missing(self) -> bool {
        matches!(
            self,
            Self::SimNotInserted | Self::SimFailure | Self::SimWrong
        )
    }
}

coded_error! {
    /// `+CMS ERROR: <err>`: message service failures, 3GPP TS 27.005 3.2.5. Codes 0–127 are
    /// RP-cause values from the network (TS 24.011 E.2), 128–255 TP-FCS values (TS 23.040
    /// 9.2.3.22), 300–511 errors of the ME/TA itself.
    CmsError, "+CMS ERROR:" {
        /// 1 (RP cause)
        UnassignedNumber = 1, "unassigned (unallocated) number";
        /// 8 (RP cause)
        OperatorBarring = 8, "operator determined barring";
        /// 10 (RP cause)
        CallBarred = 10, "call barred";
        /// 21 (RP cause)
        TransferRejected = 21, "short message transfer rejected";
        /// 27 (RP cause)
        DestinationOutOfService = 27, "destination out of service";
        /// 28 (RP cause)
        UnidentifiedSubscriber = 28, "unidentified subscriber";
        /// 29 (RP cause)
        FacilityRejected = 29, "facility rejected";
        /// 30 (RP cause)
        UnknownSubscriber = 30, "unknown subscriber";
        /// 38 (RP cause): temporary.
        NetworkOutOfOrder = 38, "network out of order";
        /// 41 (RP cause): temporary.
        TemporaryFailure = 41, "temporary failure";
        /// 42 (RP cause): temporary.
        Congestion = 42, "congestion";
        /// 47 (RP cause): temporary.
        ResourcesUnavailable = 47, "resources unavailable, unspecified";
        /// 50 (RP cause)
        FacilityNotSubscribed = 50, "requested facility not subscribed";
        /// 69 (RP cause)
        FacilityNotImplemented = 69, "requested facility not implemented";
        /// 81 (RP cause)
        InvalidReference = 81, "invalid short message transfer reference value";
        /// 95 (RP cause)
        InvalidMessage = 95, "invalid message, unspecified";
        /// 96 (RP cause)
        InvalidMandatoryInfo = 96, "invalid mandatory information";
        /// 97 (RP cause)
        MessageTypeNotImplemented = 97, "message type non-existent or not implemented";
        /// 98 (RP cause)
        MessageNotCompatible = 98, "message not compatible with short message protocol state";
        /// 99 (RP cause)
        IeNotImplemented = 99, "information element non-existent or not implemented";
        /// 111 (RP cause)
        ProtocolError = 111, "protocol error, unspecified";
        /// 127 (RP cause)
        Interworking = 127, "interworking, unspecified";
        /// 208 (TP-FCS 0xD0)
        SimStorageFull = 208, "SIM SMS storage full";
        /// 209 (TP-FCS 0xD1)
        NoSimStorage = 209, "no SMS storage capability in SIM";
        /// 210 (TP-FCS 0xD2)
        ErrorInMs = 210, "error in MS";
        /// 211 (TP-FCS 0xD3)
        MemoryCapacityExceeded = 211, "memory capacity exceeded";
        /// 255 (TP-FCS 0xFF)
        UnspecifiedFcs = 255, "unspecified error cause";
        /// 300
        MeFailure = 300, "ME failure";
        /// 301
        SmsServiceReserved = 301, "SMS service of ME reserved";
        /// 302
        OperationNotAllowed = 302, "operation not allowed";
        /// 303
        OperationNotSupported = 303, "operation not supported";
        /// 304
        InvalidPduParameter = 304, "invalid PDU mode parameter";
        /// 305
        InvalidTextParameter = 305, "invalid text mode parameter";
        /// 310
        SimNotInserted = 310, "SIM not inserted";
        /// 311
        SimPinRequired = 311, "SIM PIN required";
        /// 312
        PhSimPinRequired = 312, "PH-SIM PIN required";
        /// 313
        SimFailure = 313, "SIM failure";
        /// 314
        SimBusy = 314, "SIM busy";
        /// 315
        SimWrong = 315, "SIM wrong";
        /// 316
        SimPukRequired = 316, "SIM PUK required";
        /// 317
        SimPin2Required = 317, "SIM PIN2 required";
        /// 318
        SimPuk2Required = 318, "SIM PUK2 required";
        /// 320
        MemoryFailure = 320, "memory failure";
        /// 321
        InvalidMemoryIndex = 321, "invalid memory index";
        /// 322
        MemoryFull = 322, "memory full";
        /// 330
        SmscAddressUnknown = 330, "SMSC address unknown";
        /// 331
        NoNetworkService = 331, "no network service";
        /// 332
        NetworkTimeout = 332, "network timeout";
        /// 340
        NoCnmaExpected = 340, "no +CNMA acknowledgement expected";
        /// 500
        Unknown = 500, "unknown error";
    }
}

impl CmsError {
    /// A failure that may well succeed if the same message is tried again later, on this
    /// or another channel: network congestion and outages (RP causes 38, 41, 42, 47, TS 24.011
    /// E.2 marks them temporary), no service, network timeout, SIM busy, and the ME's
    /// catch-all 500.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            Self::NetworkOutOfOrder
                | Self::TemporaryFailure
                | Self::Congestion
                | Self::ResourcesUnavailable
                | Self::NoNetworkService
                | Self::NetworkTimeout
                | Self::SimBusy
                | Self::MeFailure
                | Self::Unknown
        )
    }

    /// The SIM is gone (pulled or failed).
    pub fn is_sim_missing(self) -> bool {
        matches!(
            self,
            Self::SimNotInserted | Self::SimFailure | Self::SimWrong
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_and_verbose_forms_agree() {
        let cases: &[(&[u8], CmeError)] = &[
            (b"10", CmeError::SimNotInserted),
            (b" 10 ", CmeError::SimNotInserted),
            (b"SIM not inserted", CmeError::SimNotInserted),
            (b"sim NOT inserted", CmeError::SimNotInserted),
            (b"16", CmeError::IncorrectPassword),
            (b"incorrect password", CmeError::IncorrectPassword),
            (b"100", CmeError::Unknown),
            (b"unknown", CmeError::Unknown),
            (b"777", CmeError::Other(777)),
            (b"99999", CmeError::Unrecognised),
            (b"123456", CmeError::Unrecognised),
            (b"SIM not", CmeError::Unrecognised),
            (b"", CmeError::Unrecognised),
        ];
        for (input, want) in cases {
            assert_eq!(
                CmeError::parse(input),
                *want,
                "{:?}",
                core::str::from_utf8(input)
            );
        }
        let cms: &[(&[u8], CmsError)] = &[
            (b"500", CmsError::Unknown),
            (b"304", CmsError::InvalidPduParameter),
            (b"Invalid PDU mode parameter", CmsError::InvalidPduParameter),
            (b"38", CmsError::NetworkOutOfOrder),
            (b"42", CmsError::Congestion),
            (b"330", CmsError::SmscAddressUnknown),
            (b"12", CmsError::Other(12)),
            (b"whatever", CmsError::Unrecognised),
        ];
        for (input, want) in cms {
            assert_eq!(CmsError::parse(input), *want);
        }
    }

    #[test]
    fn codes_round_trip_and_display() {
        for code in 0..=600u16 {
            assert_eq!(CmsError::from_code(code).code(), Some(code));
            assert_eq!(CmeError::from_code(code).code(), Some(code));
        }
        assert_eq!(
            std::format!("{}", CmsError::Unknown),
            "+CMS ERROR: 500 (unknown error)"
        );
        assert_eq!(
            std::format!("{}", CmeError::Other(7000)),
            "+CME ERROR: 7000"
        );
        assert!(CmsError::Congestion.is_temporary());
        assert!(!CmsError::UnassignedNumber.is_temporary());
    }
}
