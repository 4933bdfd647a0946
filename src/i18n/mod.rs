//! The message catalogue: every fixed text users read (tier names, risk
//! levels, statuses, labels, exclusion kinds, API messages), in zh-CN and
//! en, behind typed keys. Chinese first: the default language is zh-CN.
//!
//! Rules bring their own texts (a reason may be `#{ zh: …, en: … }`, see
//! `engine::Reason`); this module holds what Rust prints around them.
//!
//! Invariants: no IO; a key has both forms (the `match` is exhaustive); no
//! text here is ever hashed or signed into a bundle or frame: machine
//! fields (numeric tiers, risk codes, stratum keys) stay as they are and a
//! localised name is added beside them.

pub mod capacity;
pub mod console;
pub mod help;
mod text;

pub use text::Text;

use std::fmt;

/// A language credo speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    /// 简体中文 (the default).
    #[default]
    #[serde(rename = "zh-CN")]
    Zh,
    #[serde(rename = "en")]
    En,
}

/// A language tag credo does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language '{0}': use zh-CN (default) or en")]
pub struct UnknownLang(pub String);

impl Lang {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// `zh`, `zh-CN`, `zh-Hans`, `en`, `en-US`, … (case-insensitive).
    pub fn parse(s: &str) -> Result<Lang, UnknownLang> {
        let t = s.trim().to_ascii_lowercase();
        let primary = t.split(['-', '_']).next().unwrap_or("");
        match primary {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            _ => Err(UnknownLang(s.trim().to_string())),
        }
    }

    /// The preferred language of an `Accept-Language` header: the
    /// supported tag with the highest q (ties: the first listed); zh-CN
    /// when none is supported or the header is absent.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(h) = header else { return Lang::default() };
        let mut best: Option<(u32, Lang)> = None;
        for part in h.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim();
            let q =
                it.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.trim().parse::<f64>().ok()).unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0).round() as u32;
            if q == 0 {
                continue;
            }
            if let Ok(lang) = Lang::parse(tag)
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::default(), |(_, l)| l)
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl std::str::FromStr for Lang {
    type Err = UnknownLang;
    fn from_str(s: &str) -> Result<Lang, UnknownLang> {
        Lang::parse(s)
    }
}

/// The plan's name of a credit tier (（一）).
pub fn tier_name(tier: u8, lang: Lang) -> &'static str {
    match (tier, lang) {
        (1, Lang::Zh) => "诚信守法",
        (2, Lang::Zh) => "轻微失信",
        (3, Lang::Zh) => "一般失信",
        (4, Lang::Zh) => "严重失信",
        (1, Lang::En) => "trustworthy",
        (2, Lang::En) => "minor dishonesty",
        (3, Lang::En) => "general dishonesty",
        (4, Lang::En) => "serious dishonesty",
        (_, Lang::Zh) => "未分级",
        (_, Lang::En) => "unclassified",
    }
}

/// A risk level code (`none`, `low`, …) in words; unknown codes as given.
pub fn risk_name(code: &str, lang: Lang) -> &str {
    match (code, lang) {
        ("none", Lang::Zh) => "无",
        ("low", Lang::Zh) => "低风险",
        ("medium", Lang::Zh) => "中风险",
        ("high", Lang::Zh) => "较高风险",
        ("very_high", Lang::Zh) => "高风险",
        ("none", Lang::En) => "none",
        ("low", Lang::En) => "low",
        ("medium", Lang::En) => "medium",
        ("high", Lang::En) => "high",
        ("very_high", Lang::En) => "very high",
        (other, _) => other,
    }
}

/// An accumulation level (`none`, `reminder`, `key_attention`) in words.
pub fn accumulation_name(code: &str, lang: Lang) -> &str {
    match (code, lang) {
        ("none", Lang::Zh) => "无",
        ("reminder", Lang::Zh) => "提醒约谈",
        ("key_attention", Lang::Zh) => "列入重点关注名单",
        ("none", Lang::En) => "none",
        ("reminder", Lang::En) => "reminder and interview",
        ("key_attention", Lang::En) => "key-attention list",
        (other, _) => other,
    }
}

/// A record status a record_status rule gave, in words.
pub fn record_status_name(code: &str, lang: Lang) -> &str {
    match (code, lang) {
        ("counted", Lang::Zh) => "计入",
        ("exempt", Lang::Zh) => "首违免罚",
        ("expired", Lang::Zh) => "已过期",
        ("repaired", Lang::Zh) => "已信用修复",
        ("cleared", Lang::Zh) => "已移出",
        ("ignored", Lang::Zh) => "不计",
        ("disputed", Lang::Zh) => "异议中",
        ("corrected", Lang::Zh) => "异议成立已更正",
        (other, _) => other,
    }
}

/// An objection's status (`open`, `upheld`, `rejected`) in words.
pub fn objection_status_name(status: crate::model::objection::ObjectionStatus, lang: Lang) -> &'static str {
    use crate::model::objection::ObjectionStatus;
    match (status, lang) {
        (ObjectionStatus::Open, Lang::Zh) => "审查中",
        (ObjectionStatus::Upheld, Lang::Zh) => "异议成立",
        (ObjectionStatus::Rejected, Lang::Zh) => "异议不成立",
        (status, Lang::En) => status.as_str(),
    }
}

/// A record kind in words.
pub fn record_kind_name(code: &str, lang: Lang) -> &str {
    match (code, lang) {
        ("penalty", Lang::Zh) => "行政处罚",
        ("abnormal_listing", Lang::Zh) => "经营异常名录",
        ("complaint", Lang::Zh) => "投诉举报",
        ("commitment_breach", Lang::Zh) => "违背信用承诺",
        ("inspection", Lang::Zh) => "检查发现违法",
        ("reminder", Lang::Zh) => "提醒约谈",
        (other, _) => other,
    }
}

/// A propagated flag's effect (`raise_risk`, `key_attention`) in words.
pub fn link_effect_name(code: &str, lang: Lang) -> &str {
    match lang {
        Lang::Zh => link_effect_zh(code).unwrap_or(code),
        Lang::En => code,
    }
}

fn link_effect_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "raise_risk" => "提高风险等级",
        "key_attention" => "列入重点关注",
        _ => return None,
    })
}

/// An entity type code in Chinese.
pub fn entity_type_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "limited_company" => "有限责任公司",
        "joint_stock_company" => "股份有限公司",
        "branch" => "分支机构",
        "sole_proprietorship" => "个人独资企业",
        "partnership" => "合伙企业",
        "individual_business" => "个体工商户",
        "farmer_cooperative" => "农民专业合作社",
        "foreign_invested" => "外商投资企业",
        _ => return None,
    })
}

/// A key special field code （五） in Chinese.
pub fn key_field_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        "vaccine" => "疫苗",
        "drug" => "药品",
        "special_equipment" => "特种设备",
        "hazardous_chemicals" => "危险化学品",
        _ => return None,
    })
}

/// The Chinese name of a code a rule sees as text, for `zh(code)` in
/// rules (so that a Chinese reason names an entity's status as 注销, not
/// `deregistered`): an entity's status, type or key special field, a
/// new-economy category, a person's role, a propagated flag's effect.
/// `None` for any other text (`zh` gives it back as it is).
pub fn code_name_zh(code: &str) -> Option<&'static str> {
    let named = match code {
        // Registration status.
        "active" => "存续",
        "revoked" => "吊销",
        "deregistered" => "注销",
        "moved_out" => "迁出",
        // New technologies, industries, business forms and models （四）.
        "sharing_economy" => "共享经济",
        "artificial_intelligence" => "人工智能",
        "industrial_internet" => "工业互联网",
        "platform_economy" => "平台经济",
        "digital_finance" => "数字金融",
        // A person's role in an entity （六）.
        "legal_representative" => "法定代表人",
        "principal" => "主要负责人",
        "directly_responsible" => "直接责任人员",
        "shareholder" => "股东",
        "director" => "董事",
        _ => return key_field_zh(code).or_else(|| entity_type_zh(code)).or_else(|| link_effect_zh(code)),
    };
    Some(named)
}

/// Fixed labels of CLI and API output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Tier,
    Risk,
    Records,
    Tolerance,
    Accumulation,
    Blacklist,
    Propagation,
    TierOverTime,
    AsOf,
    ToleranceUntil,
    Exemptions,
    None,
    No,
    ListedUntil,
    Blacklisted,
    KeyAttention,
    KeySpecialFields,
    NewEconomy,
    Commitments,
    RevokedApprovals,
    RepairApplications,
    Explanation,
    Industry,
    Registered,
    Flags,
    Reaches,
    ReachedBy,
    SourceRecords,
    With,
    For,
    Until,
    Objections,
}

impl Label {
    pub fn text(self, lang: Lang) -> &'static str {
        use Label::*;
        match lang {
            Lang::Zh => match self {
                Tier => "信用等级",
                Risk => "风险",
                Records => "记录",
                Tolerance => "包容期",
                Accumulation => "累积违法",
                Blacklist => "严重失信名单",
                Propagation => "联合惩戒延伸",
                TierOverTime => "信用等级变化",
                AsOf => "截至",
                ToleranceUntil => "包容期至",
                Exemptions => "首违免罚",
                None => "无",
                No => "否",
                ListedUntil => "列入至",
                Blacklisted => "严重失信名单",
                KeyAttention => "重点关注",
                KeySpecialFields => "重点特殊领域",
                NewEconomy => "新经济",
                Commitments => "信用承诺",
                RevokedApprovals => "因承诺未履行被撤销的审批",
                RepairApplications => "信用修复申请",
                Explanation => "依据",
                Industry => "行业",
                Registered => "成立",
                Flags => "延伸至",
                Reaches => "波及",
                ReachedBy => "受波及于",
                SourceRecords => "来源记录",
                With => "附承诺",
                For => "针对",
                Until => "至",
                Objections => "异议申诉",
            },
            Lang::En => match self {
                Tier => "tier",
                Risk => "risk",
                Records => "records",
                Tolerance => "tolerance",
                Accumulation => "accumulation",
                Blacklist => "blacklist",
                Propagation => "propagation",
                TierOverTime => "tier over time",
                AsOf => "as of",
                ToleranceUntil => "tolerance until",
                Exemptions => "exemptions",
                None => "none",
                No => "no",
                ListedUntil => "listed until",
                Blacklisted => "BLACKLISTED",
                KeyAttention => "key attention",
                KeySpecialFields => "key special fields",
                NewEconomy => "new economy",
                Commitments => "commitments",
                RevokedApprovals => "approvals revoked for a breached commitment",
                RepairApplications => "repair applications",
                Explanation => "explanation",
                Industry => "industry",
                Registered => "registered",
                Flags => "flags",
                Reaches => "reaches",
                ReachedBy => "reached by",
                SourceRecords => "source records",
                With => "with commitment",
                For => "for",
                Until => "until",
                Objections => "objections",
            },
        }
    }
}

/// A stratum key of a frame (`tier=2|city=370100`) in words, for
/// disclosures and previews: `轻微失信 · city 370100`. The key itself stays
/// the machine form (it is hashed into the frame).
pub fn stratum_label(key: &str, lang: Lang) -> String {
    let mut parts = Vec::new();
    for part in key.split('|') {
        let (dim, value) = part.split_once('=').unwrap_or((part, ""));
        let text = match (dim, lang) {
            ("tier", _) => value.parse::<u8>().map_or_else(|_| value.to_string(), |t| tier_name(t, lang).to_string()),
            ("risk", _) => risk_name(value, lang).to_string(),
            ("city", Lang::Zh) => format!("市 {value}"),
            ("county", Lang::Zh) => format!("县(区) {value}"),
            ("kind", Lang::Zh) if value == "commitment_check" => "承诺核查".to_string(),
            ("entity_type", Lang::Zh) => format!("主体类型 {value}"),
            ("section", Lang::Zh) => format!("行业门类 {value}"),
            ("all", Lang::Zh) => "全部".to_string(),
            ("all", Lang::En) => "all".to_string(),
            (dim, Lang::En) => format!("{} {value}", dim.replace('_', " ")),
            (dim, Lang::Zh) => format!("{dim} {value}"),
        };
        parts.push(text);
    }
    parts.join(" · ")
}

/// Generic API error messages by stable error code.
pub fn api_error_title(code: &str, lang: Lang) -> Option<&'static str> {
    Some(match (code, lang) {
        ("unauthorized", Lang::Zh) => "未认证",
        ("forbidden", Lang::Zh) => "无权操作",
        ("not_found", Lang::Zh) => "未找到",
        ("conflict", Lang::Zh) => "状态冲突",
        ("bad_request", Lang::Zh) => "请求有误",
        ("invalid", Lang::Zh) => "请求无效",
        ("rule_error", Lang::Zh) => "规则错误",
        ("beacon_refused", Lang::Zh) => "随机信标被拒绝",
        ("altered", Lang::Zh) => "存证被改动",
        ("too_large", Lang::Zh) => "请求过大",
        ("timeout", Lang::Zh) => "超时",
        ("internal", Lang::Zh) => "内部错误，详见服务器日志",
        ("busy", Lang::Zh) => "服务繁忙",
        ("method_not_allowed", Lang::Zh) => "不允许的方法",
        ("unsupported_media_type", Lang::Zh) => "不支持的内容类型",
        ("rule_tests_failed", Lang::Zh) => "规则测试未通过",
        ("busy", Lang::En) => "busy",
        ("method_not_allowed", Lang::En) => "method not allowed",
        ("unsupported_media_type", Lang::En) => "unsupported media type",
        ("rule_tests_failed", Lang::En) => "rule tests fail",
        ("unauthorized", Lang::En) => "not authenticated",
        ("forbidden", Lang::En) => "not allowed",
        ("not_found", Lang::En) => "not found",
        ("conflict", Lang::En) => "conflict",
        ("bad_request", Lang::En) => "bad request",
        ("invalid", Lang::En) => "invalid request",
        ("rule_error", Lang::En) => "rule error",
        ("beacon_refused", Lang::En) => "beacon refused",
        ("altered", Lang::En) => "stored evidence altered",
        ("too_large", Lang::En) => "request too large",
        ("timeout", Lang::En) => "timeout",
        ("internal", Lang::En) => "internal error; see the server log",
        _ => return None,
    })
}

/// A kind of dataset problem (`data::Problem::kind`, a stable English
/// category) in words; kinds not listed as given.
pub fn problem_kind(kind: &str, lang: Lang) -> &str {
    if lang == Lang::En {
        return kind;
    }
    match kind {
        "ambiguous file" => "文件重复",
        "bad encoding" => "编码错误",
        "bad header" => "表头错误",
        "blank line" => "空行",
        "dangling reference" => "引用不存在",
        "date order" => "日期先后不符",
        "duplicate key" => "键重复",
        "empty file" => "空文件",
        "foreign qualification" => "资质属于其他部门",
        "foreign record" => "记录属于其他主体",
        "invalid boolean" => "布尔值无效",
        "invalid code" => "代码无效",
        "invalid credit code" => "统一社会信用代码无效",
        "invalid date" => "日期无效",
        "invalid division code" => "行政区划代码无效",
        "invalid grade" => "等级无效",
        "invalid industry code" => "行业代码无效",
        "invalid industry prefix" => "行业代码前缀无效",
        "invalid person id" => "人员编号无效",
        "invalid text" => "文本无效",
        "missing file" => "缺少文件",
        "missing value" => "缺少值",
        "row count mismatch" => "行数不符",
        "too large" => "数据集过大",
        "unparsable file" => "文件无法解析",
        "unreadable file" => "文件无法读取",
        "unterminated quote" => "引号未闭合",
        "wrong column type" => "列类型错误",
        "wrong field count" => "字段数不符",
        other => other,
    }
}

/// The Chinese of a dataset problem's reason when it is a fixed sentence
/// (most reasons name the offending value and are shown after the kind).
pub fn problem_reason_zh(reason: &str) -> Option<&'static str> {
    match reason {
        "required value is missing" => Some("缺少必填值"),
        "the file is empty; it needs at least a header line" => Some("文件为空；至少需要一行表头"),
        _ => None,
    }
}

/// A frame's exclusion kind (`plan`'s fixed English, kept as is in the
/// frame's counts) in words; kinds not listed as given.
pub fn exclusion_kind(kind: &str, lang: Lang) -> String {
    if lang == Lang::En {
        return kind.to_string();
    }
    fn source(s: &str) -> &str {
        match s {
            "dataset" => "数据集",
            "rules" => "规则",
            "earlier plans" => "此前的计划",
            other => other,
        }
    }
    let fixed = match kind {
        "not active (source: dataset)" => Some("非存续状态（来源：数据集）"),
        "no applicable inspection item (source: dataset)" => Some("无适用的检查事项（来源：数据集）"),
        "no approval granted on a commitment awaiting verification (source: dataset)" => {
            Some("无待核查的告知承诺审批（来源：数据集）")
        }
        "no random inspection under the rules (source: rules)" => Some("按规则不纳入随机抽查（来源：规则）"),
        _ => None,
    };
    if let Some(f) = fixed {
        return f.to_string();
    }
    // `tier N: already randomly inspected WHEN (source: SOURCE)`.
    let parsed = kind.strip_prefix("tier ").and_then(|rest| {
        let (tier, rest) = rest.split_once(": already randomly inspected ")?;
        let (when, rest) = rest.split_once(" (source: ")?;
        let when = match when {
            "this year" => "本年度",
            "within 12 months" => "近 12 个月内",
            _ => return None,
        };
        let tier: u8 = tier.parse().ok()?;
        Some(format!("{}：{when}已被随机抽查（来源：{}）", tier_name(tier, lang), source(rest.strip_suffix(')')?)))
    });
    parsed.unwrap_or_else(|| kind.to_string())
}

/// Columns `s` takes on a terminal, a CJK character counting two.
fn display_width(s: &str) -> usize {
    s.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum()
}

/// Pads to a display width, counting CJK characters as two columns.
pub fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(display_width(s))))
}

/// [`pad`], aligned right.
pub fn pad_left(s: &str, width: usize) -> String {
    format!("{}{s}", " ".repeat(width.saturating_sub(display_width(s))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_names_follow_the_plan() {
        let zh: Vec<_> = (1..=4).map(|t| tier_name(t, Lang::Zh)).collect();
        assert_eq!(zh, ["诚信守法", "轻微失信", "一般失信", "严重失信"]);
        assert_eq!(tier_name(4, Lang::En), "serious dishonesty");
    }

    /// Every code of the vocabularies a rule may name in a Chinese reason
    /// has a Chinese name, each its own.
    #[test]
    fn every_code_a_rule_may_name_has_a_chinese_name() {
        use crate::model::{EntityStatus, EntityType, KeyField, LinkEffect, NewEconomy, RoleKind};
        let codes: Vec<&str> = (EntityStatus::ALL.iter().map(|c| c.as_str()))
            .chain(KeyField::ALL.iter().map(|c| c.as_str()))
            .chain(NewEconomy::ALL.iter().map(|c| c.as_str()))
            .chain(RoleKind::ALL.iter().map(|c| c.as_str()))
            .chain(LinkEffect::ALL.iter().map(|c| c.as_str()))
            .chain(EntityType::ALL.iter().map(|c| c.as_str()))
            .collect();
        let names: Vec<&str> = codes.iter().map(|c| code_name_zh(c).unwrap_or_else(|| panic!("{c}"))).collect();
        assert!(names.iter().all(|n| !n.is_ascii()), "{names:?}");
        let distinct: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert_eq!(code_name_zh("deregistered"), Some("注销"));
        assert_eq!(code_name_zh("ZX-1"), None);
    }

    #[test]
    fn languages_parse_and_negotiate() {
        assert_eq!(Lang::parse("zh-CN"), Ok(Lang::Zh));
        assert_eq!(Lang::parse("EN_us"), Ok(Lang::En));
        assert!(Lang::parse("fr").unwrap_err().to_string().contains("'fr'"));
        assert_eq!(Lang::from_accept_language(None), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr-FR, en;q=0.8, zh;q=0.9")), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("zh;q=0, en-GB;q=0.5")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("de")), Lang::Zh);
    }

    #[test]
    fn exclusion_kinds_in_chinese() {
        let k = "tier 2: already randomly inspected this year (source: earlier plans)";
        assert_eq!(exclusion_kind(k, Lang::Zh), "轻微失信：本年度已被随机抽查（来源：此前的计划）");
        assert_eq!(exclusion_kind(k, Lang::En), k);
        assert_eq!(exclusion_kind("not active (source: dataset)", Lang::Zh), "非存续状态（来源：数据集）");
        assert_eq!(exclusion_kind("something new", Lang::Zh), "something new");
    }

    #[test]
    fn stratum_labels_name_tiers() {
        assert_eq!(stratum_label("tier=4|city=370100", Lang::Zh), "严重失信 · 市 370100");
        assert_eq!(stratum_label("tier=2|city=370100", Lang::En), "minor dishonesty · city 370100");
    }
}

/// Why a visit of a draw is unstaffed, in `lang`. The draw records the
/// reason in English (it is part of the bundle and its hash); this reads
/// the two forms `draw::assign` writes and gives them in Chinese. Any
/// other text is shown as it is.
pub fn unstaffed_reason(reason: &str, lang: Lang) -> std::borrow::Cow<'_, str> {
    match lang {
        Lang::En => reason.into(),
        Lang::Zh => unstaffed_reason_zh(reason).map_or_else(|| reason.into(), Into::into),
    }
}

fn unstaffed_reason_zh(reason: &str) -> Option<String> {
    // "only 1 officer can go, 2 needed (MPA 1)"
    if let Some(rest) = reason.strip_prefix("only ") {
        let (total, rest) = rest.split_once(' ')?;
        let rest = rest.strip_prefix("officers can go, ").or_else(|| rest.strip_prefix("officer can go, "))?;
        let (needed, rest) = rest.split_once(" needed (")?;
        let parts = rest.strip_suffix(')')?;
        return Some(format!("仅 {total} 名执法人员可派，需要 {needed} 名（{}）", parts.replace(", ", "，")));
    }
    // "MPA: no officer can go (12 of MPA in 370100, 11 active, 4 qualified
    // for MPA-03, 4 without conflict of interest, 3 not recently at this
    // entity, 0 under the workload cap of 5)"
    let (dept, rest) = reason.split_once(": no officer can go (")?;
    let parts: Vec<&str> = rest.strip_suffix(')')?.split(", ").collect();
    let [all, active, qualified, free, not_recent, under_cap] = parts.as_slice() else {
        return None;
    };
    let (all, area) = all.split_once(&format!(" of {dept} in "))?;
    let active = active.strip_suffix(" active")?;
    let (qualified, codes) = qualified.split_once(" qualified for ")?;
    let free = free.strip_suffix(" without conflict of interest")?;
    let not_recent = not_recent.strip_suffix(" not recently at this entity")?;
    let (under_cap, cap) = under_cap.split_once(" under the workload cap of ")?;
    Some(format!(
        "{dept}：无执法人员可派（{area} 的 {dept} 执法人员 {all} 名，在岗 {active} 名，具备 {codes} 检查资格 {qualified} 名，\
         无利益冲突 {free} 名，近期未检查过该主体 {not_recent} 名，未达 {cap} 次检查上限 {under_cap} 名）"
    ))
}

#[cfg(test)]
mod unstaffed_tests {
    use super::{Lang, unstaffed_reason};

    #[test]
    fn both_reasons_of_a_draw_read_in_chinese_and_stay_as_recorded_in_english() {
        let dept = "EM: no officer can go (1 of EM in 370200, 1 active, 0 qualified for EM-02, 0 without conflict \
                    of interest, 0 not recently at this entity, 0 under the workload cap of 2)";
        assert_eq!(
            unstaffed_reason(dept, Lang::Zh),
            "EM：无执法人员可派（370200 的 EM 执法人员 1 名，在岗 1 名，具备 EM-02 检查资格 0 名，\
             无利益冲突 0 名，近期未检查过该主体 0 名，未达 2 次检查上限 0 名）"
        );
        assert_eq!(unstaffed_reason(dept, Lang::En), dept);
        let total = "only 1 officer can go, 2 needed (MPA 1, MR 0)";
        assert_eq!(unstaffed_reason(total, Lang::Zh), "仅 1 名执法人员可派，需要 2 名（MPA 1，MR 0）");
        assert_eq!(unstaffed_reason(total, Lang::En), total);
        // Anything else is shown as recorded.
        assert_eq!(unstaffed_reason("something else", Lang::Zh), "something else");
    }
}
