//! The page text in Chinese and English: a small catalogue keyed by stable names, and the choice
//! of language (the `outpost_lang` cookie set by the language switch, else the browser's
//! `Accept-Language`, else English).
//!
//! A key missing from the catalogue shows as `?` (and is logged); a test checks that every key the
//! templates and handlers use exists, in both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::HeaderMap;

use super::session::{LANG_COOKIE, cookie};

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// `zh` / `en`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub(crate) fn from_code(code: &str) -> Option<Lang> {
        match code {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language of a request.
    pub(crate) fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = cookie(headers, LANG_COOKIE).and_then(Lang::from_code) {
            return l;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // The first listed language wins (browsers list by preference).
        match accept
            .split(',')
            .next()
            .map(|l| l.trim().to_ascii_lowercase())
        {
            Some(l) if l.starts_with("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }

    /// The text of `key`.
    pub(crate) fn t(self, key: &str) -> &'static str {
        match index().get(key) {
            Some((en, zh)) => match self {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => {
                tracing::warn!(key, "missing catalogue entry");
                "?"
            }
        }
    }
}

/// The catalogue's own copy of `key`, if it has one (for keys chosen by a query parameter).
pub(crate) fn known(key: &str) -> Option<&'static str> {
    index().get_key_value(key).map(|(k, _)| *k)
}

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        CATALOGUE
            .iter()
            .map(|(k, en, zh)| (*k, (*en, *zh)))
            .collect()
    })
}

/// (key, English, Chinese).
pub(crate) const CATALOGUE: &[(&str, &str, &str)] = &[
    ("nav.main", "Main", "主导航"),
    ("nav.dashboard", "Dashboard", "总览"),
    ("nav.send", "Send", "发送"),
    ("nav.messages", "Messages", "消息记录"),
    ("nav.inbox", "Inbox", "收件箱"),
    ("nav.carriers", "Carriers", "通道"),
    ("nav.reports", "Reports", "报表"),
    ("nav.users", "Users", "用户"),
    ("nav.keys", "API keys", "API 密钥"),
    ("nav.settings", "Settings", "设置"),
    ("nav.audit", "Audit log", "审计日志"),
    ("nav.account", "My account", "我的账户"),
    ("nav.logout", "Log out", "退出"),
    ("role.admin", "admin", "管理员"),
    ("role.operator", "operator", "操作员"),
    ("role.viewer", "viewer", "只读"),
    ("action.save", "Save", "保存"),
    ("action.search", "Search", "查询"),
    ("action.show", "Show", "显示"),
    ("action.delete", "Delete", "删除"),
    ("action.older", "Older", "更早"),
    (
        "form.errors",
        "Please correct the following:",
        "请修正以下问题：",
    ),
    // Login and first start.
    ("login.title", "Log in", "登录"),
    ("login.user", "User name", "用户名"),
    ("login.password", "Password", "密码"),
    ("login.confirm", "Repeat the password", "再次输入密码"),
    ("login.submit", "Log in", "登录"),
    (
        "login.err.wrong",
        "Wrong user name or password.",
        "用户名或密码错误。",
    ),
    (
        "login.err.locked",
        "Too many failed attempts. Try again in 15 minutes.",
        "失败次数过多，请 15 分钟后再试。",
    ),
    (
        "login.err.mismatch",
        "The two passwords differ.",
        "两次输入的密码不一致。",
    ),
    ("setup.title", "Set the admin password", "设置管理员密码"),
    (
        "setup.hint",
        "This appliance has no users yet. Choose the first administrator's name and password (at least 8 characters). There is no default password.",
        "本设备尚无用户。请设置第一个管理员的用户名和密码（至少 8 个字符）。设备没有默认密码。",
    ),
    ("setup.submit", "Create administrator", "创建管理员"),
    // Dashboard.
    ("dash.range", "Chart range", "图表范围"),
    ("dash.queued", "Queued", "排队中"),
    ("dash.in_flight", "Sending now", "正在发送"),
    ("dash.waiting", "Awaiting report", "等待回执"),
    (
        "dash.parts_hour",
        "Parts sent, last hour",
        "近一小时发送条数",
    ),
    (
        "dash.rate_hour",
        "Delivery rate, last hour",
        "近一小时送达率",
    ),
    (
        "dash.chart",
        "Throughput and delivery rate",
        "吞吐量与送达率",
    ),
    ("dash.legend_parts", "parts sent", "发送条数"),
    (
        "dash.legend_rate",
        "delivered (% of reports)",
        "送达率（占回执百分比）",
    ),
    ("dash.updated", "updated", "更新于"),
    ("dash.slots", "Modem slots", "模块卡槽"),
    (
        "dash.no_slots",
        "No modem slots are configured.",
        "未配置模块卡槽。",
    ),
    ("dash.links", "Upstream links", "上游链路"),
    (
        "dash.no_links",
        "No upstream SMPP links are configured.",
        "未配置上游 SMPP 链路。",
    ),
    ("slot.sim", "SIM", "SIM 卡"),
    ("slot.sim_yes", "present", "已插入"),
    ("slot.sim_no", "missing", "未插入"),
    ("slot.operator", "Operator", "运营商"),
    ("slot.registration", "Registration", "注册状态"),
    ("slot.state", "Modem", "模块状态"),
    ("slot.signal", "Signal", "信号"),
    (
        "slot.sent_24h",
        "Sent (24 h) / daily limit",
        "24 小时已发 / 日限额",
    ),
    ("link.window", "Window", "窗口"),
    ("link.hour", "Last hour", "近一小时"),
    ("link.day", "24 h", "24 小时"),
    ("link.success", "Accepted", "受理率"),
    ("carrier.up", "up", "正常"),
    ("carrier.connecting", "connecting", "连接中"),
    ("carrier.down", "down", "故障"),
    ("carrier.disabled", "disabled", "已停用"),
    ("kind.smpp", "SMPP link", "SMPP 链路"),
    ("kind.slot", "bank slot", "模块池卡槽"),
    ("kind.modem", "USB modem", "USB 模块"),
    // Columns.
    ("col.carrier", "Carrier", "通道"),
    ("col.state", "State", "状态"),
    ("col.detail", "Detail", "详情"),
    ("col.time", "Time", "时间"),
    ("col.to", "To", "接收号码"),
    ("col.text", "Text", "内容"),
    ("col.parts", "Parts", "条数"),
    ("state.queued", "queued", "排队中"),
    ("state.dispatching", "sending", "发送中"),
    ("state.submitted", "submitted", "已提交"),
    ("state.delivered", "delivered", "已送达"),
    ("state.undeliverable", "undeliverable", "无法送达"),
    ("state.expired", "expired", "已过期"),
    ("state.failed", "failed", "失败"),
    ("source.http", "HTTP API", "HTTP 接口"),
    ("source.sendsms", "sendsms (Kannel)", "sendsms（Kannel）"),
    ("source.smpp", "SMPP", "SMPP"),
    ("source.web", "web page", "网页"),
    ("source.test", "channel test", "通道测试"),
    // Send.
    ("send.to", "Recipients", "接收号码"),
    (
        "send.to_hint",
        "Numbers separated by commas, spaces or new lines; paste a list.",
        "多个号码用逗号、空格或换行分隔，可直接粘贴列表。",
    ),
    ("send.group", "Group", "群组"),
    ("send.no_group", "— none —", "— 不使用 —"),
    ("send.text", "Text", "短信内容"),
    (
        "send.preview",
        "As received (signature included):",
        "接收效果（含签名）：",
    ),
    ("send.at", "Send at", "定时发送"),
    ("send.at_hint", "Empty: now.", "留空即立即发送。"),
    ("send.priority", "Priority", "优先级"),
    ("send.submit", "Send", "发送"),
    (
        "send.err.no_recipients",
        "Give at least one number.",
        "请至少填写一个号码。",
    ),
    (
        "send.err.too_many",
        "At most 1,000 recipients at once.",
        "一次最多 1000 个号码。",
    ),
    (
        "send.err.time",
        "The send time is not a valid date and time.",
        "定时发送的时间无效。",
    ),
    ("prio.low", "Low", "低"),
    ("prio.normal", "Normal", "普通"),
    ("prio.high", "High", "高"),
    ("prio.urgent", "Urgent", "紧急"),
    ("counter.empty", "0 characters", "0 个字符"),
    ("counter.chars", "characters", "字符"),
    ("counter.parts", "parts", "条"),
    ("counter.left", "left in this part", "本条剩余"),
    ("counter.too_long", "too long", "超出长度"),
    ("groups.title", "Groups", "群组"),
    ("groups.none", "No groups yet.", "暂无群组。"),
    ("groups.name", "Group name", "群组名称"),
    ("groups.numbers", "Numbers", "号码"),
    ("groups.create", "Create group", "创建群组"),
    (
        "groups.err.name",
        "A group name has 1–64 characters.",
        "群组名称为 1–64 个字符。",
    ),
    (
        "groups.err.exists",
        "A group with this name exists.",
        "同名群组已存在。",
    ),
    // Messages and trace.
    ("messages.number", "Number", "号码"),
    ("messages.from", "From", "起始日期"),
    ("messages.until", "Until", "截止日期"),
    ("messages.any", "any", "全部"),
    ("messages.key", "API key", "API 密钥"),
    (
        "messages.none",
        "No messages match.",
        "没有符合条件的消息。",
    ),
    ("messages.history", "History of", "号码历史"),
    (
        "messages.err.number",
        "That is not a phone number.",
        "号码格式不正确。",
    ),
    (
        "messages.err.date",
        "Dates are written YYYY-MM-DD.",
        "日期格式为 YYYY-MM-DD。",
    ),
    ("trace.title", "Message", "消息"),
    (
        "trace.history",
        "All messages to this number",
        "该号码的全部消息",
    ),
    ("trace.sender", "Sender", "发送方"),
    ("trace.source", "Came in through", "来源"),
    ("trace.not_before", "Not before", "定时"),
    ("trace.expires", "Expires", "有效期至"),
    ("trace.client_ref", "Reference", "客户端编号"),
    ("trace.attempts", "Attempts", "发送尝试"),
    ("trace.no_attempts", "Not attempted yet.", "尚未发送。"),
    ("trace.round", "Round", "轮次"),
    ("trace.started", "Started", "开始"),
    ("trace.ended", "Ended", "结束"),
    ("trace.outcome", "Outcome", "结果"),
    ("trace.in_flight", "in flight", "进行中"),
    (
        "trace.parts",
        "Parts and delivery reports",
        "分段与状态回执",
    ),
    ("trace.ref", "Carrier ref", "通道编号"),
    ("trace.submitted", "Submitted", "提交时间"),
    ("trace.report", "Report", "回执"),
    ("trace.error", "Error", "错误码"),
    ("trace.reported", "Reported", "回执时间"),
    ("trace.resend", "Resend via another channel", "换通道重发"),
    (
        "trace.resend_hint",
        "Sends a copy of this message through the carrier you choose, and only that one.",
        "通过所选通道（仅该通道）重新发送本消息的副本。",
    ),
    ("trace.used", "used before", "已用过"),
    ("trace.resend_submit", "Resend", "重发"),
    // Inbox.
    ("inbox.from", "Sender number", "发送号码"),
    ("inbox.none", "No inbound messages.", "暂无上行短信。"),
    ("inbox.incomplete", "parts missing", "分段缺失"),
    ("inbox.reply", "Reply", "回复"),
    // Carriers.
    (
        "carriers.none",
        "No carriers are configured.",
        "未配置通道。",
    ),
    ("carriers.window", "In flight / window", "在途 / 窗口"),
    ("carriers.cost", "Cost", "成本"),
    (
        "carriers.limits",
        "Limits (min / hour / day)",
        "限额（分 / 时 / 日）",
    ),
    ("carriers.counters", "Since start", "自启动以来"),
    ("carriers.submitted", "sent", "已发"),
    ("carriers.failed", "failed", "失败"),
    ("carriers.reports", "reports", "回执"),
    ("carriers.inbound", "inbound", "上行"),
    ("carriers.resets", "resets", "重置"),
    ("carriers.enable", "Enable", "启用"),
    ("carriers.disable", "Disable", "停用"),
    ("carriers.reset", "Reset", "重置"),
    ("carriers.power_cycle", "Power-cycle", "断电重启"),
    ("carriers.test", "Channel test", "通道测试"),
    ("carriers.test_to", "Test number", "测试号码"),
    ("carriers.test_text", "Text (optional)", "内容（可选）"),
    // Reports.
    ("reports.all_months", "All months", "全部月份"),
    ("reports.csv", "Export CSV", "导出 CSV"),
    (
        "reports.hint",
        "Only delivered messages count, from delivery reports.",
        "仅统计状态回执确认已送达的消息。",
    ),
    ("reports.by_month", "Per month", "按月"),
    ("reports.by_key", "Per department", "按部门"),
    ("reports.by_carrier", "Per carrier", "按通道"),
    ("reports.detail", "Details", "明细"),
    ("reports.month", "Month", "月份"),
    (
        "reports.department",
        "Department (API key)",
        "部门（API 密钥）",
    ),
    ("reports.messages", "Messages", "消息数"),
    ("reports.no_key", "web page / tests", "网页 / 测试"),
    ("reports.none", "Nothing delivered yet.", "暂无送达记录。"),
    // Users and keys.
    ("users.name", "Name", "用户名"),
    ("users.role", "Role", "角色"),
    ("users.created", "Created", "创建时间"),
    ("users.actions", "Actions", "操作"),
    ("users.you", "you", "本人"),
    ("users.active", "active", "有效"),
    ("users.disabled", "disabled", "已停用"),
    ("users.enable", "Enable", "启用"),
    ("users.disable", "Disable", "停用"),
    ("users.reset_password", "Set password", "重设密码"),
    ("users.new", "New user", "新建用户"),
    ("users.create", "Create user", "创建用户"),
    (
        "users.roles_hint",
        "Admin: everything. Operator: send, inbox, reports. Viewer: read only.",
        "管理员：全部权限；操作员：发送、收件箱、报表；只读：仅查看。",
    ),
    ("users.own_password", "Change my password", "修改我的密码"),
    ("users.current", "Current password", "当前密码"),
    ("users.new_password", "New password", "新密码"),
    (
        "users.err.name",
        "A user name is 1–64 letters, digits, '.', '-' or '_'.",
        "用户名为 1–64 个字母、数字、“.”、“-”或“_”。",
    ),
    (
        "users.err.password",
        "A password has at least 8 characters.",
        "密码至少 8 个字符。",
    ),
    (
        "users.err.exists",
        "A user with this name exists.",
        "该用户名已存在。",
    ),
    (
        "users.err.failed",
        "The user could not be saved.",
        "无法保存该用户。",
    ),
    (
        "users.err.last_admin",
        "The last administrator cannot be demoted or disabled.",
        "不能降级或停用最后一个管理员。",
    ),
    (
        "users.err.current",
        "The current password is wrong.",
        "当前密码错误。",
    ),
    ("keys.name", "Department or application", "部门或应用"),
    ("keys.name_hint", "e.g. 信贷部", "例如：信贷部"),
    ("keys.prefix", "Key", "密钥"),
    ("keys.revoked", "revoked", "已吊销"),
    ("keys.revoke", "Revoke", "吊销"),
    ("keys.new", "New API key", "新建 API 密钥"),
    ("keys.create", "Create key", "创建密钥"),
    ("keys.none", "No API keys yet.", "暂无 API 密钥。"),
    (
        "keys.hint",
        "The key is shown once, when it is created. Only its hash is kept.",
        "密钥仅在创建时显示一次，系统只保存其哈希值。",
    ),
    (
        "keys.shown_once",
        "Copy this key now; it will not be shown again:",
        "请立即复制此密钥，之后将不再显示：",
    ),
    (
        "keys.err.name",
        "A key name has 1–64 characters.",
        "密钥名称为 1–64 个字符。",
    ),
    // Settings.
    ("settings.signature", "Enterprise signature", "企业签名"),
    ("settings.signature_text", "Signature", "签名"),
    ("settings.position", "Position", "位置"),
    ("settings.prefix", "Before the text", "正文之前"),
    ("settings.suffix", "After the text", "正文之后"),
    (
        "settings.signature_hint",
        "Added to every message sent from this page; empty uses the configuration file's.",
        "添加到从本页面发送的每条消息；留空则使用配置文件中的签名。",
    ),
    ("settings.numbers", "Numbers and time", "号码与时间"),
    (
        "settings.country",
        "Default country (ISO code)",
        "默认国家（ISO 代码）",
    ),
    (
        "settings.offset",
        "Time zone (UTC offset)",
        "时区（UTC 偏移）",
    ),
    (
        "settings.policy",
        "Quiet hours and limits",
        "免打扰时段与限额",
    ),
    ("settings.quiet_start", "Quiet hours from", "免打扰开始"),
    ("settings.quiet_end", "Quiet hours until", "免打扰结束"),
    (
        "settings.daily_limit",
        "Daily limit per SIM",
        "每张 SIM 卡日限额",
    ),
    (
        "settings.policy_hint",
        "Scheduling settings apply after the service restarts.",
        "调度类设置在服务重启后生效。",
    ),
    (
        "settings.err.signature",
        "At most 40 characters.",
        "最多 40 个字符。",
    ),
    (
        "settings.err.country",
        "Not a country code (e.g. CN).",
        "不是有效的国家代码（如 CN）。",
    ),
    (
        "settings.err.quiet",
        "Give both times as HH:MM, or neither.",
        "请同时填写两个 HH:MM 时间，或都不填。",
    ),
    (
        "settings.err.limit",
        "A positive whole number.",
        "请填写正整数。",
    ),
    (
        "settings.err.offset",
        "Write the offset like +08:00.",
        "偏移格式如 +08:00。",
    ),
    // Audit.
    ("audit.user", "User", "用户"),
    ("audit.action", "Action", "操作"),
    ("audit.target", "Target", "对象"),
    ("audit.ip", "Address", "地址"),
    ("audit.none", "Nothing recorded yet.", "暂无记录。"),
    // Notices after a change.
    ("done.sent", "Accepted for sending.", "已受理发送。"),
    (
        "done.resent",
        "The copy is on its way through the chosen carrier.",
        "副本正在通过所选通道发送。",
    ),
    (
        "done.test_started",
        "Channel test started; the result appears below.",
        "通道测试已开始，结果将显示在下方。",
    ),
    ("done.group_created", "Group created.", "群组已创建。"),
    ("done.group_deleted", "Group deleted.", "群组已删除。"),
    ("done.enable", "Carrier enabled.", "通道已启用。"),
    ("done.disable", "Carrier disabled.", "通道已停用。"),
    ("done.reset", "Reset requested.", "已请求重置。"),
    (
        "done.power_cycle",
        "Power-cycle requested.",
        "已请求断电重启。",
    ),
    (
        "done.unsupported",
        "This carrier cannot do that.",
        "该通道不支持此操作。",
    ),
    (
        "done.unavailable",
        "The carrier is not reachable right now.",
        "通道暂时无法连接。",
    ),
    ("done.user_created", "User created.", "用户已创建。"),
    ("done.user_updated", "User updated.", "用户已更新。"),
    ("done.password_changed", "Password changed.", "密码已修改。"),
    ("done.key_revoked", "Key revoked.", "密钥已吊销。"),
    ("done.saved", "Settings saved.", "设置已保存。"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("key")` in the templates and handlers, and every key the code picks at run
    /// time, is in the catalogue; no key is listed twice; no entry is empty.
    #[test]
    fn every_key_used_exists_once() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, zh) in CATALOGUE {
            assert!(seen.insert(*k), "{k} listed twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{k} empty");
        }
        let root = concat!(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for dir in ["templates", "src/pages", "src/pages/handlers"] {
            for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    sources.push((
                        p.display().to_string(),
                        std::fs::read_to_string(&p).unwrap(),
                    ));
                }
            }
        }
        let mut used = 0;
        for (name, text) in &sources {
            for piece in text.split("t(\"").skip(1) {
                let key = piece.split('"').next().unwrap_or("");
                if key.contains('.') && !key.contains(' ') {
                    used += 1;
                    assert!(
                        index().contains_key(key),
                        "{name}: {key} not in the catalogue"
                    );
                }
            }
        }
        assert!(used > 200, "found only {used} uses");
        // Keys built at run time.
        for s in domain::MessageState::ALL {
            assert!(index().contains_key(super::super::view::state_key(s)));
        }
        for key in [
            "carrier.up",
            "carrier.connecting",
            "carrier.down",
            "carrier.disabled",
            "kind.smpp",
            "kind.slot",
            "kind.modem",
            "role.admin",
            "role.operator",
            "role.viewer",
            "source.http",
            "source.sendsms",
            "source.smpp",
            "source.web",
            "source.test",
            "done.sent",
            "done.resent",
            "done.test_started",
            "done.group_created",
            "done.group_deleted",
            "done.enable",
            "done.disable",
            "done.reset",
            "done.power_cycle",
            "done.unsupported",
            "done.unavailable",
            "done.user_created",
            "done.user_updated",
            "done.password_changed",
            "done.key_revoked",
            "done.saved",
            "login.err.locked",
            "login.err.wrong",
            "login.err.mismatch",
            "users.err.name",
            "users.err.password",
            "users.err.exists",
            "users.err.failed",
            "users.err.last_admin",
            "users.err.current",
            "keys.err.name",
            "messages.err.number",
            "messages.err.date",
            "settings.err.signature",
            "settings.err.country",
            "settings.err.quiet",
            "settings.err.limit",
            "settings.err.offset",
            "reports.no_key",
            "trace.in_flight",
        ] {
            assert!(index().contains_key(key), "{key} not in the catalogue");
        }
    }

    #[test]
    fn language_choice() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            Lang::of(&m)
        };
        assert_eq!(h(&[]), Lang::En);
        assert_eq!(
            h(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")]),
            Lang::Zh
        );
        assert_eq!(h(&[("accept-language", "en-US,zh;q=0.5")]), Lang::En);
        assert_eq!(
            h(&[
                ("accept-language", "zh-CN"),
                ("cookie", "a=b; outpost_lang=en")
            ]),
            Lang::En
        );
        assert_eq!(Lang::Zh.t("nav.send"), "发送");
        assert_eq!(Lang::En.t("missing-key"), "?");
    }
}
