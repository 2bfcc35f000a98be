//! Destination operators: which mobile network a number belongs to, by longest prefix match on
//! its E.164 digits, and which network a modem's SIM is registered on, by its PLMN code.
//!
//! The built-in table ([`BUILTIN_OPERATORS`]) holds the mainland China mobile number segments
//! (ITU-T E.164 country code 86 followed by the MIIT-assigned three- or four-digit segment). It is
//! checked against libphonenumber's carrier map (`resources/carrier/en/86.txt`), which records
//! the same assignments, and it maps the MVNO segments 170x and 171 by their sub-ranges to the
//! network that hosts them: an SMS for an MVNO subscriber is delivered by the host network.
//! Mobile number portability (携号转网, nationwide since 2019-11) means a prefix names the
//! *original* network only; routing by it is a preference, not a correctness rule.
//!
//! Config prefixes always win over the built-in table: a number is first looked up among the
//! configured prefixes (longest match), and only if none matches among the built-in ones. That way
//! an admin who writes `86170` for one operator moves the whole 170 block, even though the
//! built-in table is more specific there.

use domain::OperatorId;

/// The most operators one policy can name (they are kept in a 64-bit set).
pub const MAX_OPERATORS: usize = 64;

/// An operator of one [`crate::Policy`]: an index into its operator list.
///
/// A reference is only meaningful for the policy that made it; after a config reload, refresh
/// every candidate ([`crate::Candidate::reconfigure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorRef(pub(crate) u8);

impl OperatorRef {
    /// The position in the policy's operator list.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A set of operators of one policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OperatorSet(u64);

impl OperatorSet {
    /// No operator.
    pub const EMPTY: OperatorSet = OperatorSet(0);

    /// Whether `op` is in the set.
    pub fn contains(self, op: OperatorRef) -> bool {
        self.0 & (1u64 << (op.0 % 64)) != 0
    }

    /// The set with `op` added.
    #[must_use]
    pub fn with(self, op: OperatorRef) -> OperatorSet {
        OperatorSet(self.0 | (1u64 << (op.0 % 64)))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Which destinations a carrier can deliver to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every destination, including numbers of no known operator (aggregator links, modems).
    Any,
    /// Only numbers of these operators (an operator's own SMS gateway usually takes only its
    /// own subscribers).
    Only(OperatorSet),
}

impl Coverage {
    /// Whether a number of operator `dest` (`None`: unknown operator) can go this way.
    pub fn covers(self, dest: Option<OperatorRef>) -> bool {
        match (self, dest) {
            (Coverage::Any, _) => true,
            (Coverage::Only(set), Some(op)) => set.contains(op),
            (Coverage::Only(_), None) => false,
        }
    }
}

/// One operator of the built-in table.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinOperator {
    /// The operator id used in config and logs.
    pub id: &'static str,
    /// Its name, for people.
    pub name: &'static str,
    /// E.164 digit prefixes (country code included, no `+`).
    pub prefixes: &'static [&'static str],
    /// ITU-T E.212 PLMN codes (MCC 460 + MNC) its SIMs register with.
    pub plmns: &'static [&'static str],
}

/// The built-in operator table: mainland China's mobile networks (segments as assigned by MIIT
/// and recorded in libphonenumber's `carrier/en/86.txt`; PLMNs per ITU-T E.212 MCC 460).
///
/// 1349 (maritime satellite) is deliberately absent; 1340–1348 are China Mobile.
pub const BUILTIN_OPERATORS: &[BuiltinOperator] = &[
    BuiltinOperator {
        id: "cmcc",
        name: "China Mobile",
        prefixes: &[
            "861340", "861341", "861342", "861343", "861344", "861345", "861346", "861347",
            "861348", "86135", "86136", "86137", "86138", "86139", "86147", "86150", "86151",
            "86152", "86157", "86158", "86159", "86165", "861703", "861705", "861706", "86172",
            "86178", "86182", "86183", "86184", "86187", "86188", "86195", "86197", "86198",
        ],
        plmns: &["46000", "46002", "46004", "46007", "46008"],
    },
    BuiltinOperator {
        id: "unicom",
        name: "China Unicom",
        prefixes: &[
            "86130", "86131", "86132", "86145", "86155", "86156", "86166", "86167", "861704",
            "861707", "861708", "861709", "86171", "86175", "86176", "86185", "86186", "86196",
        ],
        plmns: &["46001", "46006", "46009"],
    },
    BuiltinOperator {
        id: "telecom",
        name: "China Telecom",
        prefixes: &[
            "86133", "86149", "86153", "86162", "861700", "861701", "861702", "86173", "86174",
            "86177", "86180", "86181", "86189", "86190", "86191", "86193", "86199",
        ],
        plmns: &["46003", "46005", "46011"],
    },
    BuiltinOperator {
        id: "cbn",
        name: "China Broadnet",
        prefixes: &["86192"],
        plmns: &["46015"],
    },
];

/// A digit trie mapping prefixes to operators.
#[derive(Clone, Debug)]
struct Trie {
    /// Node 0 is the root. `next[d]` is the child for digit `d` (0: none, since the root is never
    /// a child).
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, Default)]
struct Node {
    next: [u32; 10],
    value: Option<OperatorRef>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![Node::default()],
        }
    }

    /// Adds `prefix` (ASCII digits, checked by the caller) for `op`. On a duplicate prefix the
    /// table keeps the first operator and returns it as the error.
    fn insert(&mut self, prefix: &str, op: OperatorRef) -> Result<(), OperatorRef> {
        let mut at = 0usize;
        for b in prefix.bytes() {
            let d = usize::from(b.wrapping_sub(b'0'));
            let Some(node) = self.nodes.get(at) else {
                return Ok(());
            };
            let Some(&child) = node.next.get(d) else {
                // Not a digit: the caller validated, so this is unreachable; ignore the entry.
                return Ok(());
            };
            if child != 0 {
                at = child as usize;
                continue;
            }
            let new = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            self.nodes.push(Node::default());
            if let Some(slot) = self.nodes.get_mut(at).and_then(|n| n.next.get_mut(d)) {
                *slot = new;
            }
            at = new as usize;
        }
        match self.nodes.get_mut(at) {
            Some(node) => match node.value {
                Some(existing) if existing != op => Err(existing),
                _ => {
                    node.value = Some(op);
                    Ok(())
                }
            },
            None => Ok(()),
        }
    }

    /// The operator of the longest prefix of `digits` in the table. Stops at the first
    /// non-digit.
    fn lookup(&self, digits: &str) -> Option<OperatorRef> {
        let mut best = None;
        let mut at = 0usize;
        for b in digits.bytes() {
            let d = usize::from(b.wrapping_sub(b'0'));
            let Some(&child) = self.nodes.get(at).and_then(|n| n.next.get(d)) else {
                break;
            };
            if child == 0 {
                break;
            }
            at = child as usize;
            if let Some(v) = self.nodes.get(at).and_then(|n| n.value) {
                best = Some(v);
            }
        }
        best
    }
}

/// The prefix table of a policy: configured prefixes first, then the built-in table.
#[derive(Clone, Debug)]
pub(crate) struct PrefixTable {
    configured: Trie,
    builtin: Trie,
}

impl PrefixTable {
    pub(crate) fn new() -> PrefixTable {
        PrefixTable {
            configured: Trie::new(),
            builtin: Trie::new(),
        }
    }

    pub(crate) fn add_builtin(&mut self, prefix: &str, op: OperatorRef) {
        // The built-in table has no duplicates (a unit test checks); keep the first on error.
        let _ = self.builtin.insert(prefix, op);
    }

    /// Adds a configured prefix; on a duplicate returns the operator that already has it.
    pub(crate) fn add_configured(
        &mut self,
        prefix: &str,
        op: OperatorRef,
    ) -> Result<(), OperatorRef> {
        self.configured.insert(prefix, op)
    }

    /// The operator of E.164 `digits` (a leading `+` is skipped).
    pub(crate) fn lookup(&self, digits: &str) -> Option<OperatorRef> {
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        self.configured
            .lookup(digits)
            .or_else(|| self.builtin.lookup(digits))
    }
}

/// Whether `s` is a usable prefix: 1 to 15 ASCII digits (E.164 numbers have at most 15).
pub(crate) fn is_digit_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is an E.212 PLMN code: MCC (3 digits) + MNC (2 or 3 digits).
pub(crate) fn is_plmn(s: &str) -> bool {
    (s.len() == 5 || s.len() == 6) && s.bytes().all(|b| b.is_ascii_digit())
}

/// The built-in operators as validated ids, in table order.
pub(crate) fn builtin_ids() -> impl Iterator<Item = (OperatorId, &'static BuiltinOperator)> {
    BUILTIN_OPERATORS
        .iter()
        .filter_map(|b| OperatorId::new(b.id).ok().map(|id| (id, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> (PrefixTable, Vec<&'static str>) {
        let mut t = PrefixTable::new();
        let mut names = Vec::new();
        for (i, b) in BUILTIN_OPERATORS.iter().enumerate() {
            for p in b.prefixes {
                t.add_builtin(p, OperatorRef(i as u8));
            }
            names.push(b.id);
        }
        (t, names)
    }

    fn check(table: &PrefixTable, names: &[&str], number: &str, expect: Option<&str>) {
        let got = table.lookup(number).map(|r| names[r.index()]);
        assert_eq!(got, expect, "number {number}");
    }

    #[test]
    fn builtin_table_maps_each_segment() {
        let (t, n) = builtin();
        check(&t, &n, "8613800138000", Some("cmcc"));
        check(&t, &n, "+8613800138000", Some("cmcc"));
        check(&t, &n, "8613412345678", Some("cmcc"));
        check(&t, &n, "8613492345678", None); // 1349: maritime satellite, not in the table
        check(&t, &n, "8614712345678", Some("cmcc"));
        check(&t, &n, "8615012345678", Some("cmcc"));
        check(&t, &n, "8619812345678", Some("cmcc"));
        check(&t, &n, "8613012345678", Some("unicom"));
        check(&t, &n, "8618612345678", Some("unicom"));
        check(&t, &n, "8616612345678", Some("unicom"));
        check(&t, &n, "8619612345678", Some("unicom"));
        check(&t, &n, "8613312345678", Some("telecom"));
        check(&t, &n, "8614912345678", Some("telecom"));
        check(&t, &n, "8618912345678", Some("telecom"));
        check(&t, &n, "8619912345678", Some("telecom"));
        check(&t, &n, "8619212345678", Some("cbn"));
        // MVNO blocks by sub-range: 1700-1702 Telecom, 1703/5/6 Mobile, 1704/7/8/9 Unicom.
        check(&t, &n, "8617001234567", Some("telecom"));
        check(&t, &n, "8617031234567", Some("cmcc"));
        check(&t, &n, "8617041234567", Some("unicom"));
        check(&t, &n, "8617091234567", Some("unicom"));
        check(&t, &n, "8617112345678", Some("unicom"));
        // Not a mainland mobile number, or not a number.
        check(&t, &n, "85291234567", None);
        check(&t, &n, "8612345678901", None);
        check(&t, &n, "", None);
        check(&t, &n, "86", None);
        check(&t, &n, "86x38", None);
    }

    #[test]
    fn builtin_table_has_no_duplicates_and_only_digits() {
        let mut t = Trie::new();
        for (i, b) in BUILTIN_OPERATORS.iter().enumerate() {
            for p in b.prefixes {
                assert!(is_digit_prefix(p), "{p}");
                assert_eq!(t.insert(p, OperatorRef(i as u8)), Ok(()), "{p} duplicated");
            }
            for p in b.plmns {
                assert!(is_plmn(p), "{p}");
            }
        }
    }

    #[test]
    fn configured_prefixes_win_even_when_shorter() {
        let (mut t, mut n) = builtin();
        n.push("mvno");
        let mvno = OperatorRef(4);
        t.add_configured("86170", mvno).unwrap();
        t.add_configured("8613800", mvno).unwrap();
        check(&t, &n, "8617031234567", Some("mvno"));
        check(&t, &n, "8613800138000", Some("mvno"));
        check(&t, &n, "8613900138000", Some("cmcc"));
        // Same prefix twice for the same operator is harmless; for another one it is an error.
        assert_eq!(t.add_configured("86170", mvno), Ok(()));
        assert_eq!(t.add_configured("86170", OperatorRef(0)), Err(mvno));
    }

    #[test]
    fn longest_prefix_wins_within_a_table() {
        let mut t = PrefixTable::new();
        let n = ["a", "b", "c"];
        t.add_configured("1", OperatorRef(0)).unwrap();
        t.add_configured("123", OperatorRef(1)).unwrap();
        t.add_configured("12345", OperatorRef(2)).unwrap();
        check(&t, &n, "1999", Some("a"));
        check(&t, &n, "1239", Some("b"));
        check(&t, &n, "1234", Some("b"));
        check(&t, &n, "123456", Some("c"));
        check(&t, &n, "2", None);
    }

    #[test]
    fn prefix_and_plmn_syntax() {
        assert!(is_digit_prefix("86"));
        assert!(!is_digit_prefix(""));
        assert!(!is_digit_prefix("13x"));
        assert!(!is_digit_prefix("+86"));
        assert!(!is_digit_prefix("1234567890123456"));
        assert!(is_plmn("46000"));
        assert!(is_plmn("310410"));
        assert!(!is_plmn("4600"));
        assert!(!is_plmn("4600a"));
    }

    #[test]
    fn operator_sets_and_coverage() {
        let a = OperatorRef(0);
        let b = OperatorRef(63);
        let s = OperatorSet::EMPTY.with(b);
        assert!(s.contains(b) && !s.contains(a) && !s.is_empty());
        assert!(Coverage::Any.covers(None));
        assert!(Coverage::Only(s).covers(Some(b)));
        assert!(!Coverage::Only(s).covers(Some(a)));
        assert!(!Coverage::Only(s).covers(None));
    }
}
