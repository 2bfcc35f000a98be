//! Typed errors of the codec: small `Copy` enums whose messages name the TS 23.040 field at fault.
//!
//! Every decoder returns one of these instead of panicking; every message is one line, so the
//! `outpost pdu` command line and the host's logs can print it as it is.

use core::fmt;

use crate::tpdu::{Direction, MessageType};

/// A field of an SMS TPDU (TS 23.040 9.2.3), named in errors and dumps as the spec names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The service-centre address that `AT+CMGR`/`+CMT` put before the TPDU (TS 27.005 3.1).
    Sca,
    /// The first octet (TP-MTI, TP-MMS, TP-VPF, TP-SRR, TP-UDHI, TP-RP, ...).
    FirstOctet,
    /// TP-MR, the message reference.
    Mr,
    /// TP-DA, the destination address.
    Da,
    /// TP-OA, the originating address.
    Oa,
    /// TP-RA, the recipient address of a status report.
    Ra,
    /// TP-PID, the protocol identifier.
    Pid,
    /// TP-DCS, the data coding scheme.
    Dcs,
    /// TP-VP, the validity period.
    Vp,
    /// TP-SCTS, the service-centre time stamp.
    Scts,
    /// TP-DT, the discharge time.
    Dt,
    /// TP-ST, the status.
    St,
    /// TP-PI, the parameter indicator.
    Pi,
    /// TP-UDL, the user-data length.
    Udl,
    /// TP-UD, the user data.
    Ud,
    /// The user-data header inside TP-UD.
    Udh,
}

impl Field {
    /// The spec's name for the field, e.g. `"TP-OA"`.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Sca => "SCA",
            Field::FirstOctet => "first octet",
            Field::Mr => "TP-MR",
            Field::Da => "TP-DA",
            Field::Oa => "TP-OA",
            Field::Ra => "TP-RA",
            Field::Pid => "TP-PID",
            Field::Dcs => "TP-DCS",
            Field::Vp => "TP-VP",
            Field::Scts => "TP-SCTS",
            Field::Dt => "TP-DT",
            Field::St => "TP-ST",
            Field::Pi => "TP-PI",
            Field::Udl => "TP-UDL",
            Field::Ud => "TP-UD",
            Field::Udh => "UDH",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A malformed user-data header (TS 23.040 9.2.3.24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdhError {
    /// TP-UDHL claims more octets than TP-UD holds.
    UdhlBeyondUd {
        /// The header length octet.
        udhl: u8,
        /// Octets of TP-UD after the length octet.
        available: usize,
    },
    /// An information element starts but its IEI or length octet is missing.
    IeTruncated {
        /// Offset of the element inside the header.
        offset: usize,
    },
    /// An information element's length runs past the end of the header.
    IeOverflow {
        /// The element's identifier.
        iei: u8,
        /// Its declared length.
        length: u8,
        /// Octets left in the header.
        remaining: usize,
    },
    /// A known element has the wrong length (e.g. 8-bit concatenation must have 3 octets).
    BadIeLength {
        /// The element's identifier.
        iei: u8,
        /// Its declared length.
        length: u8,
        /// The length TS 23.040 defines for it.
        expected: u8,
    },
    /// Concatenation with a total of 0 parts or a sequence number of 0 or beyond the total
    /// (TS 23.040 9.2.3.24.1).
    BadConcat {
        /// The sequence number.
        seq: u8,
        /// The total number of parts.
        total: u8,
    },
    /// The header does not fit: TS 23.040 allows at most 139 octets, and a header built
    /// with [`crate::udh::Udh::from_ies`] at most [`crate::udh::BUILT_CAPACITY`].
    TooLong {
        /// Octets the header needs.
        needed: usize,
        /// Octets allowed.
        max: usize,
    },
}

impl fmt::Display for UdhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UdhError::UdhlBeyondUd { udhl, available } => write!(
                f,
                "bad UDH: UDHL {udhl} is beyond TP-UD ({available} octets follow it)"
            ),
            UdhError::IeTruncated { offset } => {
                write!(
                    f,
                    "bad UDH: information element at offset {offset} is cut off"
                )
            }
            UdhError::IeOverflow {
                iei,
                length,
                remaining,
            } => write!(
                f,
                "bad UDH: IE 0x{iei:02X} claims {length} octets, {remaining} remain in the header"
            ),
            UdhError::BadIeLength {
                iei,
                length,
                expected,
            } => write!(
                f,
                "bad UDH: IE 0x{iei:02X} has length {length}, TS 23.040 defines {expected}"
            ),
            UdhError::BadConcat { seq, total } => write!(
                f,
                "bad UDH: concatenation part {seq} of {total} (parts count from 1 to the total)"
            ),
            UdhError::TooLong { needed, max } => {
                write!(f, "UDH too long: {needed} octets, at most {max}")
            }
        }
    }
}

impl core::error::Error for UdhError {}

/// Why a PDU could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The PDU ends inside a field.
    Truncated {
        /// The field being read.
        field: Field,
        /// Octets the field needs.
        needed: usize,
        /// Octets left in the PDU.
        remaining: usize,
    },
    /// TP-MTI is `11`, reserved in both directions (TS 23.040 9.2.3.1).
    ReservedMessageType {
        /// The direction the PDU was decoded for.
        direction: Direction,
    },
    /// A TPDU type this codec does not decode (SMS-DELIVER-REPORT, SMS-SUBMIT-REPORT,
    /// SMS-COMMAND).
    UnsupportedMessageType(MessageType),
    /// An address length beyond the 20 digits / 10 octets TS 23.040 9.1.2.5 allows.
    AddressTooLong {
        /// The address field.
        field: Field,
        /// The length octet as received.
        length: u8,
    },
    /// A time stamp with a non-decimal digit or an out-of-range value (TS 23.040 9.2.3.11).
    BadTimestamp {
        /// The field holding the time stamp.
        field: Field,
    },
    /// An enhanced validity period (TS 23.040 9.2.3.12.3) with a reserved format or bad digits.
    BadEnhancedValidity,
    /// TP-UDL beyond 160 septets or 140 octets.
    UdlTooLong {
        /// The length as received.
        udl: u8,
        /// The maximum for the coding.
        max: u8,
    },
    /// TP-UDL is shorter than the user-data header it must contain.
    UdlShorterThanUdh {
        /// The length as received.
        udl: u8,
        /// Units the header takes.
        header: usize,
    },
    /// A malformed user-data header.
    Udh(UdhError),
    /// Octets left over after the last field.
    TrailingOctets {
        /// How many.
        count: usize,
    },
    /// A GSM 7-bit septet given one per octet (SMPP `data_coding` 0) has its top bit set.
    BadSeptet {
        /// The octet.
        value: u8,
        /// Its position.
        position: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated {
                field,
                needed,
                remaining,
            } => write!(
                f,
                "truncated PDU: {field} needs {needed} octet{}, {remaining} remain",
                if needed == 1 { "" } else { "s" }
            ),
            DecodeError::ReservedMessageType { direction } => {
                write!(f, "reserved TP-MTI 3 ({direction})")
            }
            DecodeError::UnsupportedMessageType(t) => {
                write!(f, "{t} is not supported by this decoder")
            }
            DecodeError::AddressTooLong { field, length } => {
                write!(f, "{field} length {length} is beyond the 20 digits allowed")
            }
            DecodeError::BadTimestamp { field } => {
                write!(f, "{field} is not a valid time stamp")
            }
            DecodeError::BadEnhancedValidity => {
                f.write_str("TP-VP (enhanced format) is reserved or malformed")
            }
            DecodeError::UdlTooLong { udl, max } => {
                write!(f, "TP-UDL {udl} is beyond the maximum {max}")
            }
            DecodeError::UdlShorterThanUdh { udl, header } => {
                write!(f, "TP-UDL {udl} is shorter than the UDH ({header})")
            }
            DecodeError::Udh(e) => fmt::Display::fmt(&e, f),
            DecodeError::TrailingOctets { count } => {
                write!(f, "{count} unexpected octet(s) after TP-UD")
            }
            DecodeError::BadSeptet { value, position } => write!(
                f,
                "octet 0x{value:02X} at {position} is not a GSM 7-bit septet"
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

impl From<UdhError> for DecodeError {
    fn from(e: UdhError) -> Self {
        DecodeError::Udh(e)
    }
}

/// A phone number or alphanumeric sender that cannot be put into an address field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressError {
    /// No digits or characters.
    Empty,
    /// More than 20 digits or 11 alphanumeric septets (TS 23.040 9.1.2.5).
    TooLong,
    /// A character that is neither a digit nor `*#abc` in a numeric address.
    BadDigit {
        /// The character.
        ch: char,
        /// Its position (in characters).
        position: usize,
    },
    /// An alphanumeric address with a character outside the GSM 7-bit alphabet.
    Unencodable {
        /// The character.
        ch: char,
        /// Its position (in characters).
        position: usize,
    },
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AddressError::Empty => f.write_str("empty address"),
            AddressError::TooLong => {
                f.write_str("address too long (at most 20 digits or 11 GSM characters)")
            }
            AddressError::BadDigit { ch, position } => {
                write!(f, "{ch:?} at position {position} is not a digit")
            }
            AddressError::Unencodable { ch, position } => write!(
                f,
                "{ch:?} at position {position} is not in the GSM 7-bit alphabet"
            ),
        }
    }
}

impl core::error::Error for AddressError {}

/// Why a message or PDU could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// A character outside the GSM 7-bit default alphabet and its extension table, where
    /// GSM 7-bit was required.
    Unencodable {
        /// The character.
        ch: char,
        /// Its position in the text (in characters).
        position: usize,
    },
    /// The text needs more parts than allowed.
    TooManyParts {
        /// Parts the text needs.
        needed: usize,
        /// The configured maximum.
        max: u8,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// The user data does not fit one TPDU (160 septets / 140 octets, header included).
    UserDataTooLong {
        /// Units needed (septets for GSM 7-bit, octets otherwise).
        needed: usize,
        /// The maximum.
        max: usize,
    },
    /// A bad address.
    Address(AddressError),
    /// A bad user-data header.
    Udh(UdhError),
    /// TP-DCS announces a different alphabet than the user data is in.
    AlphabetMismatch,
    /// A validity period beyond 63 weeks, the longest TS 23.040 9.2.3.12.1 can express.
    ValidityTooLong {
        /// The requested period in seconds.
        seconds: u64,
    },
    /// A time stamp field out of range.
    BadTimestamp,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::Unencodable { ch, position } => write!(
                f,
                "{ch:?} at position {position} is not in the GSM 7-bit alphabet"
            ),
            EncodeError::TooManyParts { needed, max } => {
                write!(f, "the text needs {needed} parts, at most {max} allowed")
            }
            EncodeError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer too small: {needed} octets needed, {available} available"
            ),
            EncodeError::UserDataTooLong { needed, max } => {
                write!(
                    f,
                    "user data too long for one PDU: {needed} units, at most {max}"
                )
            }
            EncodeError::Address(e) => write!(f, "bad address: {e}"),
            EncodeError::Udh(e) => fmt::Display::fmt(&e, f),
            EncodeError::AlphabetMismatch => {
                f.write_str("TP-DCS announces a different alphabet than the user data")
            }
            EncodeError::ValidityTooLong { seconds } => write!(
                f,
                "validity period of {seconds} s is beyond 63 weeks, the longest relative period"
            ),
            EncodeError::BadTimestamp => f.write_str("time stamp field out of range"),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<AddressError> for EncodeError {
    fn from(e: AddressError) -> Self {
        EncodeError::Address(e)
    }
}

impl From<UdhError> for EncodeError {
    fn from(e: UdhError) -> Self {
        EncodeError::Udh(e)
    }
}

/// Why user data could not be rendered as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextError {
    /// The user data is 8-bit binary data (TS 23.038 4), not text.
    Binary,
    /// The user data is compressed (TS 23.042), which this codec does not decompress.
    Compressed,
    /// The `fmt::Write` sink refused the text.
    Write,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextError::Binary => "user data is 8-bit binary, not text",
            TextError::Compressed => "user data is compressed (TS 23.042), which is unsupported",
            TextError::Write => "the text sink refused the text",
        })
    }
}

impl core::error::Error for TextError {}
