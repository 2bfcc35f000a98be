//! `outpost pdu decode|encode`: what an admin debugging a modem needs. `decode` prints every
//! field of a PDU as `AT+CMGR`/`+CMT`/`+CMGL` show it (SCA and direction auto-detected,
//! overridable); `encode` prints the segment plan and each SMS-SUBMIT with its `AT+CMGS`
//! length. All codec work is `gsm`'s; this module only parses arguments and prints.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use gsm::{
    Address, Direction, Dump, Encoding, Hex, MessageClass, PlanOptions, Validity, decode_with_sca,
    plan,
};

/// Arguments of `outpost pdu`.
#[derive(Debug, Args)]
pub(crate) struct PduArgs {
    #[command(subcommand)]
    command: PduCommand,
}

#[derive(Debug, Subcommand)]
enum PduCommand {
    /// Print every field of a PDU in hex (with or without the SCA prefix) and its text.
    Decode(DecodeArgs),
    /// Plan a text and print one SMS-SUBMIT PDU per part with its AT+CMGS length.
    Encode(EncodeArgs),
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The PDU in hex, as AT+CMGR / +CMT / +CMGL print it or AT+CMGS takes it.
    hex: String,
    /// The PDU starts with the SCA (as modems print it); default: try with, then without.
    #[arg(long, conflicts_with = "no_sca")]
    sca: bool,
    /// The PDU is a bare TPDU without the SCA prefix.
    #[arg(long)]
    no_sca: bool,
    /// Direction: mt (SC→MS: DELIVER, STATUS-REPORT) or mo (MS→SC: SUBMIT); default: the
    /// one whose TP-MTI this codec decodes.
    #[arg(long, value_enum)]
    direction: Option<DirectionArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    /// Mobile terminated: from the service centre to the modem.
    Mt,
    /// Mobile originated: from the modem to the service centre.
    Mo,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum EncodingArg {
    /// GSM 7-bit when every character fits, else UCS-2.
    Auto,
    /// GSM 7-bit only (fails on other characters).
    Gsm7,
    /// UCS-2 always.
    Ucs2,
}

#[derive(Debug, Args)]
struct EncodeArgs {
    /// Destination: +international, digits, or an alphanumeric address.
    #[arg(long)]
    to: String,
    /// The message text.
    #[arg(long)]
    text: String,
    /// Request a status report (TP-SRR).
    #[arg(long)]
    report: bool,
    /// Send as class 0 ("flash"), shown at once and not stored.
    #[arg(long)]
    class0: bool,
    /// Put this service-centre number before each TPDU instead of `00` (the modem's own).
    #[arg(long, value_name = "NUMBER")]
    from_sca: Option<String>,
    /// Relative validity period: seconds, or a number with s, m, h, d or w (e.g. 1d).
    #[arg(long, value_name = "DURATION")]
    validity: Option<String>,
    /// The most parts allowed.
    #[arg(long, default_value_t = gsm::plan::DEFAULT_MAX_PARTS)]
    max_parts: u8,
    /// Use 16-bit concatenation references (one unit less per part).
    #[arg(long)]
    ref16: bool,
    /// Concatenation reference shared by the parts (low byte only without --ref16).
    #[arg(long, default_value_t = 0)]
    reference: u16,
    /// TP-MR (modems replace it with their own).
    #[arg(long, default_value_t = 0)]
    mr: u8,
    /// Text encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::Auto)]
    encoding: EncodingArg,
}

/// Runs `outpost pdu …`, printing to `out`.
pub(crate) fn run(args: PduArgs, out: &mut impl Write) -> Result<()> {
    match args.command {
        PduCommand::Decode(a) => decode(&a, out),
        PduCommand::Encode(a) => encode(&a, out),
    }
}

fn decode(args: &DecodeArgs, out: &mut impl Write) -> Result<()> {
    let hex = args.hex.trim();
    let mut bytes = vec![0u8; hex.len() / 2 + 1];
    let n = gsm::hex::decode(hex, &mut bytes)?;
    bytes.truncate(n);
    let with_sca: &[bool] = match (args.sca, args.no_sca) {
        (true, _) => &[true],
        (_, true) => &[false],
        _ => &[true, false],
    };
    let mut errors = Vec::new();
    for &sca in with_sca {
        let tpdu = if sca {
            gsm::split_sca(&bytes).map_or(&[][..], |(_, tpdu)| tpdu)
        } else {
            &bytes[..]
        };
        let direction = match args.direction {
            Some(DirectionArg::Mt) => Direction::ScToMs,
            Some(DirectionArg::Mo) => Direction::MsToSc,
            None => guess_direction(tpdu.first().copied().unwrap_or(0)),
        };
        let result = if sca {
            decode_with_sca(&bytes, direction).map(|p| Dump::new(&p).to_string())
        } else {
            gsm::decode(&bytes, direction).map(|t| Dump::tpdu(&t).to_string())
        };
        match result {
            Ok(dump) => {
                out.write_all(dump.as_bytes())?;
                return Ok(());
            }
            Err(e) => errors.push((sca, e)),
        }
    }
    match errors.as_slice() {
        [(_, e)] => bail!("{e}"),
        [(_, with), (_, without)] => {
            bail!("not a PDU with SCA ({with}) nor a bare TPDU ({without})")
        }
        _ => bail!("nothing to decode"),
    }
}

/// The direction in which this codec decodes TP-MTI `mti`: 00 SMS-DELIVER and 10
/// SMS-STATUS-REPORT travel SC→MS, 01 SMS-SUBMIT travels MS→SC (TS 23.040 9.2.3.1).
fn guess_direction(first_octet: u8) -> Direction {
    match first_octet & 0x03 {
        1 => Direction::MsToSc,
        _ => Direction::ScToMs,
    }
}

fn encode(args: &EncodeArgs, out: &mut impl Write) -> Result<()> {
    let to = Address::parse(&args.to).with_context(|| format!("--to {:?}", args.to))?;
    let sca = args
        .from_sca
        .as_deref()
        .map(|s| {
            let a = Address::parse(s).with_context(|| format!("--from-sca {s:?}"))?;
            if a.is_alphanumeric() {
                bail!("--from-sca {s:?}: a service centre is a number");
            }
            Ok(a)
        })
        .transpose()?;
    let validity = match &args.validity {
        Some(v) => Validity::relative_seconds(parse_duration(v)?)
            .with_context(|| format!("--validity {v:?}"))?,
        None => Validity::None,
    };
    let options = PlanOptions {
        max_parts: args.max_parts,
        ref16: args.ref16,
        encoding: match args.encoding {
            EncodingArg::Auto => None,
            EncodingArg::Gsm7 => Some(Encoding::Gsm7),
            EncodingArg::Ucs2 => Some(Encoding::Ucs2),
        },
    };
    let p = plan(&args.text, &options)?;
    writeln!(out, "{p}")?;
    let mut buf = [0u8; 200];
    for seg in p.segments(args.reference) {
        let submit = seg
            .submit(to.clone())
            .with_message_ref(args.mr)
            .with_status_report(args.report)
            .with_validity(validity)
            .with_class(args.class0.then_some(MessageClass::Class0));
        let e = submit.encode_with_sca(sca.as_ref(), &mut buf)?;
        let pdu = buf.get(..e.len).context("encoder wrote past its buffer")?;
        match seg.concat {
            Some(c) => writeln!(out, "part {} of {}: AT+CMGS={}", c.seq, c.total, e.tpdu_len)?,
            None => writeln!(out, "AT+CMGS={}", e.tpdu_len)?,
        }
        writeln!(out, "{}", Hex(pdu))?;
    }
    Ok(())
}

/// Seconds from `300`, `300s`, `30m`, `12h`, `1d` or `2w`.
fn parse_duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .with_context(|| format!("--validity {s:?}: expected a number with s, m, h, d or w"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("--validity {s:?}: unknown unit {unit:?} (use s, m, h, d or w)"),
    };
    n.checked_mul(scale)
        .with_context(|| format!("--validity {s:?} is too long"))
}
