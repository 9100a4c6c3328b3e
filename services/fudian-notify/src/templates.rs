//! Notice templates: Chinese texts per channel and notice kind, loaded from a folder that
//! operations edit without a rebuild (minijinja), and rendered into what each channel
//! needs: WeChat fields, an SMS text with its billing segments, an app JSON payload.
//!
//! Folder layout: `wechat/<kind>.txt`, `sms/<kind>.txt`, `app/<kind>.json`, with `<kind>`
//! one of [`NoticeKind::ALL`]. A kind may lack a channel (SMS is only for what is worth
//! one of the ~10 messages a day carriers allow a number); any other file is an error,
//! so a typo in a file name does not silently disable a notice.
//!
//! - WeChat files hold one `field: value` line per template field; `field~: value` marks
//!   a field truncatable (cut to 20 characters ending in …); `url: ...` sets the detail page.
//! - SMS files hold the text without the 【signature】; lines are joined without spaces.
//! - App files render JSON; values print JSON-escaped (`"title": {{ area }}`).
//!
//! Dates come in as local (Beijing) times and are formatted by filters: `cn_datetime`
//! (2026年11月26日 14:00), `cn_short` (11月26日 14:00), `cn_date` (11月26日), `cn_time`
//! (14:00), `cn_hour` (14点, 9点30分).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use chrono::NaiveDateTime;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value};

use crate::Error;
use crate::providers::wechat::{MAX_FIELD_CHARS, check_field_value, is_field_name};

/// A delivery channel, which is also a sub-folder of the template folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// WeChat template messages, `wechat/*.txt`.
    Wechat,
    /// SMS, `sms/*.txt`.
    Sms,
    /// App push payloads, `app/*.json`.
    App,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Self; 3] = [Self::Wechat, Self::Sms, Self::App];

    /// The sub-folder name.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Wechat => "wechat",
            Self::Sms => "sms",
            Self::App => "app",
        }
    }

    /// The file extension; `.json` also turns on JSON escaping of printed values.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Wechat | Self::Sms => "txt",
            Self::App => "json",
        }
    }
}

/// What a notice tells the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// An unplanned outage was detected.
    OutageDetected,
    /// The estimated time of restoration changed.
    EtrChanged,
    /// The repair crew reached the site.
    CrewArrived,
    /// A repair step was completed.
    RepairProgress,
    /// Power is back.
    Restored,
    /// A planned outage announced ahead (7 days for planned work).
    PlannedAdvance,
    /// A reminder shortly before a planned outage.
    PlannedReminder,
    /// A planned outage began.
    PlannedStart,
    /// A planned outage ended.
    PlannedEnd,
    /// An outage customers were told of turned out not to be one (not confirmed, or
    /// cancelled by an operator): supply is normal.
    OutageCancelled,
    /// A planned outage customers were told of is called off.
    PlannedCancelled,
}

impl NoticeKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::OutageDetected,
        Self::EtrChanged,
        Self::CrewArrived,
        Self::RepairProgress,
        Self::Restored,
        Self::PlannedAdvance,
        Self::PlannedReminder,
        Self::PlannedStart,
        Self::PlannedEnd,
        Self::OutageCancelled,
        Self::PlannedCancelled,
    ];

    /// The file stem, also passed to templates as `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutageDetected => "outage_detected",
            Self::EtrChanged => "etr_changed",
            Self::CrewArrived => "crew_arrived",
            Self::RepairProgress => "repair_progress",
            Self::Restored => "restored",
            Self::PlannedAdvance => "planned_advance",
            Self::PlannedReminder => "planned_reminder",
            Self::PlannedStart => "planned_start",
            Self::PlannedEnd => "planned_end",
            Self::OutageCancelled => "outage_cancelled",
            Self::PlannedCancelled => "planned_cancelled",
        }
    }

    fn from_stem(stem: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == stem)
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The variables a notice template sees. Times are local (Asia/Shanghai) wall-clock
/// times. Optional fields that are `None` are undefined in the template: test them with
/// `{% if estimated_restoration %}`; printing one is an error, never an empty string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContext {
    /// The affected area as customers know it: `东营市东城区西四路`.
    pub area: String,
    /// When this notice's event happened: detection, arrival, restoration, start, end.
    pub occurred_at: NaiveDateTime,
    /// Estimated time of restoration.
    pub estimated_restoration: Option<NaiveDateTime>,
    /// Start of a planned outage.
    pub planned_start: Option<NaiveDateTime>,
    /// End of a planned outage.
    pub planned_end: Option<NaiveDateTime>,
    /// Why: `增容施工`, `线路故障`.
    pub cause: Option<String>,
    /// The repair step just completed: `故障点已找到，正在更换设备`.
    pub progress: Option<String>,
    /// The detail page; never given to SMS templates (no links in SMS variables).
    pub detail_url: String,
    /// The incident or planned-work reference shown in the app.
    pub reference: String,
}

impl NoticeContext {
    /// The text variables with their names, for the per-variable checks.
    fn text_variables(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("area", Some(self.area.as_str())),
            ("cause", self.cause.as_deref()),
            ("progress", self.progress.as_deref()),
            ("reference", Some(self.reference.as_str())),
        ]
    }

    fn to_value(&self, kind: NoticeKind, channel: Channel) -> Value {
        let iso = |time: &NaiveDateTime| Value::from(time.format("%Y-%m-%dT%H:%M:%S").to_string());
        let mut map: BTreeMap<&'static str, Value> = BTreeMap::new();
        map.insert("kind", Value::from(kind.as_str()));
        map.insert("area", Value::from(self.area.as_str()));
        map.insert("occurred_at", iso(&self.occurred_at));
        map.insert("reference", Value::from(self.reference.as_str()));
        if channel != Channel::Sms {
            map.insert("detail_url", Value::from(self.detail_url.as_str()));
        }
        let optional_times = [
            ("estimated_restoration", &self.estimated_restoration),
            ("planned_start", &self.planned_start),
            ("planned_end", &self.planned_end),
        ];
        for (name, time) in optional_times {
            if let Some(time) = time {
                map.insert(name, iso(time));
            }
        }
        for (name, text) in [("cause", &self.cause), ("progress", &self.progress)] {
            if let Some(text) = text {
                map.insert(name, Value::from(text.as_str()));
            }
        }
        Value::from(map)
    }

    fn check_variables(&self, channel: Channel) -> Result<(), Error> {
        for (variable, text) in self.text_variables() {
            let Some(text) = text else { continue };
            if text.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
                return Err(Error::InvalidVariable {
                    variable,
                    reason: "contains a line break",
                });
            }
            let lower = text.to_lowercase();
            if channel == Channel::Sms && (lower.contains("://") || lower.contains("www.")) {
                return Err(Error::InvalidVariable {
                    variable,
                    reason: "contains a link, which sms templates do not allow in variables",
                });
            }
        }
        Ok(())
    }
}

/// A rendered WeChat template message: field values and the detail page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatNotice {
    /// Field key → value, each at most 20 characters without line breaks.
    pub fields: BTreeMap<String, String>,
    /// The detail page, if the template sets `url:`.
    pub url: Option<String>,
}

/// A rendered SMS text, without the 【signature】 the platform adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsNotice {
    /// The text.
    pub text: String,
}

/// One message holds this many characters, signature included.
pub const SMS_SINGLE_CHARS: usize = 70;
/// A longer message is billed in segments of this many characters.
pub const SMS_SEGMENT_CHARS: usize = 67;

impl SmsNotice {
    /// Characters on the handset: the text plus `【signature】`. Counted as chars, not bytes.
    pub fn chars_with_signature(&self, signature: &str) -> usize {
        let bare = signature.trim_start_matches('【').trim_end_matches('】');
        self.text.chars().count() + bare.chars().count() + 2
    }

    /// Billed segments: one up to 70 characters, else one per 67 started.
    pub fn segments(&self, signature: &str) -> usize {
        let chars = self.chars_with_signature(signature);
        if chars <= SMS_SINGLE_CHARS {
            1
        } else {
            chars.div_ceil(SMS_SEGMENT_CHARS)
        }
    }
}

/// A rendered app payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppNotice {
    /// A JSON object.
    pub payload: serde_json::Value,
}

/// Characters the SMS rules forbid in a notification template.
const SMS_FORBIDDEN: [char; 5] = ['【', '】', '¥', '★', '※'];

/// The loaded template folder. Loading parses every template and renders it once with
/// sample data, so a broken file is reported, with its name, at start-up.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    present: BTreeSet<(Channel, NoticeKind)>,
}

fn file_name(channel: Channel, kind: NoticeKind) -> String {
    format!(
        "{}/{}.{}",
        channel.folder(),
        kind.as_str(),
        channel.extension()
    )
}

impl Templates {
    /// Loads and checks every template under `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let mut env = new_environment()?;
        let mut present = BTreeSet::new();
        for entry in read_dir(dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let channel = Channel::ALL.into_iter().find(|c| c.folder() == name);
            match channel {
                Some(channel) if entry.path().is_dir() => {
                    load_channel(&mut env, &mut present, dir, channel)?;
                }
                _ if name.starts_with("README") => {}
                _ => {
                    return Err(Error::UnexpectedTemplateFile {
                        file: name,
                        reason: "expected the folders wechat, sms and app".into(),
                    });
                }
            }
        }
        let templates = Self { env, present };
        templates.check_with_samples()?;
        Ok(templates)
    }

    /// Whether a template exists for this channel and kind.
    pub fn has(&self, channel: Channel, kind: NoticeKind) -> bool {
        self.present.contains(&(channel, kind))
    }

    fn render(
        &self,
        channel: Channel,
        kind: NoticeKind,
        context: &NoticeContext,
    ) -> Result<String, Error> {
        let file = file_name(channel, kind);
        if !self.has(channel, kind) {
            return Err(Error::TemplateMissing { file });
        }
        context.check_variables(channel)?;
        self.env
            .get_template(&file)
            .and_then(|template| template.render(context.to_value(kind, channel)))
            .map_err(|source| Error::Template { file, source })
    }

    /// Renders the WeChat fields of a notice.
    pub fn render_wechat(
        &self,
        kind: NoticeKind,
        context: &NoticeContext,
    ) -> Result<WechatNotice, Error> {
        let output = self.render(Channel::Wechat, kind, context)?;
        parse_wechat_output(&file_name(Channel::Wechat, kind), &output)
    }

    /// Renders the SMS text of a notice.
    pub fn render_sms(
        &self,
        kind: NoticeKind,
        context: &NoticeContext,
    ) -> Result<SmsNotice, Error> {
        let file = file_name(Channel::Sms, kind);
        let output = self.render(Channel::Sms, kind, context)?;
        let text: String = output.lines().map(str::trim).collect();
        if text.is_empty() {
            return Err(Error::TemplateOutput {
                file,
                reason: "the sms text is empty".into(),
            });
        }
        if let Some(forbidden) = text.chars().find(|c| SMS_FORBIDDEN.contains(c)) {
            return Err(Error::TemplateOutput {
                file,
                reason: format!("the sms text contains {forbidden:?}, which sms rules forbid"),
            });
        }
        Ok(SmsNotice { text })
    }

    /// Renders the app payload of a notice.
    pub fn render_app(
        &self,
        kind: NoticeKind,
        context: &NoticeContext,
    ) -> Result<AppNotice, Error> {
        let file = file_name(Channel::App, kind);
        let output = self.render(Channel::App, kind, context)?;
        let payload: serde_json::Value =
            serde_json::from_str(&output).map_err(|source| Error::TemplateOutput {
                file: file.clone(),
                reason: format!("not valid json: {source}"),
            })?;
        if !payload.is_object() {
            return Err(Error::TemplateOutput {
                file,
                reason: "the payload must be a json object".into(),
            });
        }
        Ok(AppNotice { payload })
    }

    fn check_with_samples(&self) -> Result<(), Error> {
        let sample = NoticeContext::sample();
        for &(channel, kind) in &self.present {
            match channel {
                Channel::Wechat => self.render_wechat(kind, &sample).map(drop),
                Channel::Sms => self.render_sms(kind, &sample).map(drop),
                Channel::App => self.render_app(kind, &sample).map(drop),
            }?;
        }
        Ok(())
    }
}

impl NoticeContext {
    /// A plausible context with every optional field set, used to check templates at
    /// load time.
    pub fn sample() -> Self {
        let at = |day: u32, hour: u32, minute: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, day)
                .and_then(|date| date.and_hms_opt(hour, minute, 0))
                .unwrap_or_default()
        };
        Self {
            area: "东营市东城区西四路".into(),
            occurred_at: at(26, 14, 0),
            estimated_restoration: Some(at(26, 17, 30)),
            planned_start: Some(at(28, 9, 0)),
            planned_end: Some(at(28, 15, 0)),
            cause: Some("增容施工".into()),
            progress: Some("故障点已找到，正在更换设备".into()),
            detail_url: "https://fudian.example.cn/n/sample".into(),
            reference: "INC-20261126-0001".into(),
        }
    }
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, Error> {
    let io_error = |source| Error::TemplateIo {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    Ok(entries)
}

fn load_channel(
    env: &mut Environment<'static>,
    present: &mut BTreeSet<(Channel, NoticeKind)>,
    root: &Path,
    channel: Channel,
) -> Result<(), Error> {
    for entry in read_dir(&root.join(channel.folder()))? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let file = format!("{}/{name}", channel.folder());
        let kind = name
            .strip_suffix(channel.extension())
            .and_then(|rest| rest.strip_suffix('.'))
            .and_then(NoticeKind::from_stem)
            .ok_or_else(|| Error::UnexpectedTemplateFile {
                file: file.clone(),
                reason: format!(
                    "expected <kind>.{} with kind one of {}",
                    channel.extension(),
                    NoticeKind::ALL.map(NoticeKind::as_str).join(", ")
                ),
            })?;
        let source = std::fs::read_to_string(entry.path()).map_err(|source| Error::TemplateIo {
            path: entry.path(),
            source,
        })?;
        env.add_template_owned(file.clone(), source)
            .map_err(|source| Error::Template { file, source })?;
        present.insert((channel, kind));
    }
    Ok(())
}

fn new_environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|source| Error::Template {
            file: "(syntax configuration)".into(),
            source,
        })?;
    env.set_syntax(syntax);
    // Printing a missing variable is an error; `{% if x %}` on one is allowed.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("cn_datetime", |v: String| {
        format_time(&v, "%Y年%-m月%-d日 %H:%M")
    });
    env.add_filter("cn_short", |v: String| format_time(&v, "%-m月%-d日 %H:%M"));
    env.add_filter("cn_date", |v: String| format_time(&v, "%-m月%-d日"));
    env.add_filter("cn_time", |v: String| format_time(&v, "%H:%M"));
    env.add_filter("cn_hour", |v: String| {
        let time = parse_time(&v)?;
        let format = if chrono::Timelike::minute(&time) == 0 {
            "%-H点"
        } else {
            "%-H点%M分"
        };
        Ok(time.format(format).to_string())
    });
    Ok(env)
}

fn parse_time(value: &str) -> Result<NaiveDateTime, minijinja::Error> {
    value.parse::<NaiveDateTime>().map_err(|err| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("{value:?} is not a date and time: {err}"),
        )
    })
}

fn format_time(value: &str, format: &str) -> Result<String, minijinja::Error> {
    Ok(parse_time(value)?.format(format).to_string())
}

fn parse_wechat_output(file: &str, output: &str) -> Result<WechatNotice, Error> {
    let mut fields = BTreeMap::new();
    let mut url = None;
    for (index, line) in output.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad_line = |reason: String| Error::TemplateOutput {
            file: file.to_owned(),
            reason: format!("output line {}: {reason}", index + 1),
        };
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| bad_line(format!("expected `field: value`, got {line:?}")))?;
        let (key, value) = (key.trim(), value.trim());
        if key == "url" {
            url = Some(value.to_owned());
            continue;
        }
        let (name, truncatable) = match key.strip_suffix('~') {
            Some(name) => (name, true),
            None => (key, false),
        };
        if !is_field_name(name) {
            return Err(bad_line(format!("invalid field name {name:?}")));
        }
        let value = if truncatable && value.chars().count() > MAX_FIELD_CHARS {
            let mut cut: String = value.chars().take(MAX_FIELD_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            value.to_owned()
        };
        check_field_value(&value).map_err(|problem| Error::TemplateField {
            file: file.to_owned(),
            field: name.to_owned(),
            problem,
        })?;
        if fields.insert(name.to_owned(), value).is_some() {
            return Err(bad_line(format!("field {name} appears twice")));
        }
    }
    if fields.is_empty() {
        return Err(Error::TemplateOutput {
            file: file.to_owned(),
            reason: "no fields".into(),
        });
    }
    Ok(WechatNotice { fields, url })
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use chrono::NaiveDate;

    use super::*;

    fn default_templates() -> Templates {
        Templates::load(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")).unwrap()
    }

    fn at(month: u32, day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, month, day)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
    }

    fn unplanned(occurred_at: NaiveDateTime) -> NoticeContext {
        NoticeContext {
            area: "东营市东城区西四路".into(),
            occurred_at,
            estimated_restoration: Some(at(11, 26, 17, 30)),
            planned_start: None,
            planned_end: None,
            cause: None,
            progress: None,
            detail_url: "https://fudian.example.cn/n/0192f3a1".into(),
            reference: "INC-20261126-0007".into(),
        }
    }

    fn planned(occurred_at: NaiveDateTime) -> NoticeContext {
        NoticeContext {
            area: "东营市东城区西四路".into(),
            occurred_at,
            estimated_restoration: None,
            planned_start: Some(at(12, 3, 9, 0)),
            planned_end: Some(at(12, 3, 15, 0)),
            cause: Some("增容施工".into()),
            progress: None,
            detail_url: "https://fudian.example.cn/p/0192f3b7".into(),
            reference: "PLN-20261203-0002".into(),
        }
    }

    /// Everything a customer would see for one notice, in one readable text.
    fn render_all(templates: &Templates, kind: NoticeKind, context: &NoticeContext) -> String {
        let mut out = String::new();
        let wechat = templates.render_wechat(kind, context).unwrap();
        writeln!(out, "== wechat").unwrap();
        for (field, value) in &wechat.fields {
            writeln!(out, "{field}: {value}").unwrap();
        }
        writeln!(out, "url: {}", wechat.url.as_deref().unwrap_or("-")).unwrap();
        if templates.has(Channel::Sms, kind) {
            let sms = templates.render_sms(kind, context).unwrap();
            writeln!(out, "== sms").unwrap();
            writeln!(out, "【东营供电】{}", sms.text).unwrap();
            writeln!(
                out,
                "chars: {}, segments: {}",
                sms.chars_with_signature("东营供电"),
                sms.segments("东营供电")
            )
            .unwrap();
        }
        let app = templates.render_app(kind, context).unwrap();
        writeln!(out, "== app").unwrap();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&app.payload).unwrap()
        )
        .unwrap();
        out
    }

    #[test]
    fn shipped_templates_render_every_notice_kind() {
        let templates = default_templates();
        let outage = unplanned(at(11, 26, 14, 0));
        let crew = NoticeContext {
            cause: Some("10千伏线路故障".into()),
            ..unplanned(at(11, 26, 14, 42))
        };
        let progress = NoticeContext {
            area: "东营市东城区西四路与黄河路交叉口以东至府前街一带".into(),
            progress: Some("故障点已找到，正在更换设备".into()),
            ..unplanned(at(11, 26, 15, 20))
        };
        let cases = [
            (NoticeKind::OutageDetected, outage.clone()),
            (
                NoticeKind::EtrChanged,
                NoticeContext {
                    estimated_restoration: Some(at(11, 26, 18, 30)),
                    cause: Some("需更换受损电缆".into()),
                    ..outage.clone()
                },
            ),
            (NoticeKind::CrewArrived, crew),
            (NoticeKind::RepairProgress, progress),
            (
                NoticeKind::Restored,
                NoticeContext {
                    estimated_restoration: None,
                    ..unplanned(at(11, 26, 17, 12))
                },
            ),
            (NoticeKind::PlannedAdvance, planned(at(11, 26, 10, 0))),
            (NoticeKind::PlannedReminder, planned(at(12, 2, 18, 0))),
            (NoticeKind::PlannedStart, planned(at(12, 3, 9, 0))),
            (NoticeKind::PlannedEnd, planned(at(12, 3, 14, 40))),
            (NoticeKind::OutageCancelled, unplanned(at(11, 26, 14, 25))),
            (
                NoticeKind::PlannedCancelled,
                NoticeContext {
                    cause: Some("施工计划调整".into()),
                    ..planned(at(11, 28, 9, 0))
                },
            ),
        ];
        for (kind, context) in cases {
            insta::assert_snapshot!(kind.as_str(), render_all(&templates, kind, &context));
        }
    }

    #[test]
    fn outage_without_estimate_says_it_is_being_assessed_instead_of_printing_nothing() {
        let templates = default_templates();
        let context = NoticeContext {
            estimated_restoration: None,
            ..unplanned(at(11, 26, 14, 0))
        };
        let wechat = templates
            .render_wechat(NoticeKind::OutageDetected, &context)
            .unwrap();
        assert_eq!(wechat.fields["thing4"], "恢复时间正在评估，稍后告知");
        let sms = templates
            .render_sms(NoticeKind::OutageDetected, &context)
            .unwrap();
        assert!(!sms.text.contains("预计"), "{}", sms.text);
        let app = templates
            .render_app(NoticeKind::OutageDetected, &context)
            .unwrap();
        assert_eq!(
            app.payload["estimated_restoration"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn planned_outage_over_midnight_names_both_days_in_the_sms() {
        let templates = default_templates();
        let context = NoticeContext {
            planned_end: Some(at(12, 4, 6, 30)),
            ..planned(at(11, 26, 10, 0))
        };
        let sms = templates
            .render_sms(NoticeKind::PlannedAdvance, &context)
            .unwrap();
        assert!(
            sms.text.contains("将在12月3日9点至12月4日6点30分停电"),
            "{}",
            sms.text
        );
    }

    #[test]
    fn sms_segments_count_characters_including_the_signature() {
        let sms = |chars: usize| SmsNotice {
            text: "停".repeat(chars),
        };
        // 【东营供电】 is 6 characters.
        assert_eq!(sms(64).chars_with_signature("东营供电"), 70);
        assert_eq!(sms(64).segments("东营供电"), 1);
        assert_eq!(sms(64).segments("【东营供电】"), 1);
        assert_eq!(sms(65).segments("东营供电"), 2);
        assert_eq!(sms(128).segments("东营供电"), 2); // 134 = 2 × 67
        assert_eq!(sms(129).segments("东营供电"), 3);
    }

    fn folder_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn broken_template_is_reported_with_its_file_name() {
        let dir = folder_with(&[
            ("wechat/restored.txt", "thing1: {{ area }}\n"),
            ("sms/restored.txt", "尊敬的客户您好，{{ area 已恢复供电。\n"),
        ]);
        let err = Templates::load(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Template { .. }), "{message}");
        assert!(message.contains("sms/restored.txt"), "{message}");
    }

    #[test]
    fn misspelled_variable_is_caught_at_load_with_the_file_name() {
        let dir = folder_with(&[("wechat/restored.txt", "thing1: {{ aera }}\n")]);
        let message = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("wechat/restored.txt"), "{message}");
        assert!(message.contains("undefined"), "{message}");
    }

    #[test]
    fn misspelled_file_name_is_an_error_not_a_silently_missing_notice() {
        let dir = folder_with(&[("sms/restord.txt", "尊敬的客户您好。")]);
        let message = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("sms/restord.txt"), "{message}");
        let dir = folder_with(&[("mail/restored.txt", "x")]);
        assert!(
            Templates::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("mail")
        );
    }

    #[test]
    fn missing_template_is_reported_by_path() {
        let dir = folder_with(&[("wechat/restored.txt", "thing1: {{ area }}\n")]);
        let templates = Templates::load(dir.path()).unwrap();
        assert!(!templates.has(Channel::Sms, NoticeKind::Restored));
        let err = templates
            .render_sms(NoticeKind::Restored, &unplanned(at(11, 26, 17, 0)))
            .unwrap_err();
        assert_eq!(err.to_string(), "no template sms/restored.txt");
    }

    #[test]
    fn too_long_field_names_field_and_file_unless_marked_truncatable() {
        let strict = folder_with(&[("wechat/restored.txt", "thing1: {{ area }}\n")]);
        let templates = Templates::load(strict.path()).unwrap();
        let long = NoticeContext {
            area: "东营市东城区西四路与黄河路交叉口以东至府前街一带".into(),
            ..unplanned(at(11, 26, 17, 0))
        };
        let err = templates
            .render_wechat(NoticeKind::Restored, &long)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template wechat/restored.txt: field thing1 is 24 characters long, at most 20 are allowed"
        );
        let lenient = folder_with(&[("wechat/restored.txt", "thing1~: {{ area }}\n")]);
        let templates = Templates::load(lenient.path()).unwrap();
        let notice = templates
            .render_wechat(NoticeKind::Restored, &long)
            .unwrap();
        assert_eq!(
            notice.fields["thing1"],
            "东营市东城区西四路与黄河路交叉口以东至…"
        );
        assert_eq!(notice.fields["thing1"].chars().count(), 20);
    }

    #[test]
    fn line_break_in_a_variable_is_refused_naming_the_variable() {
        let templates = default_templates();
        let context = NoticeContext {
            cause: Some("线路\n故障".into()),
            ..unplanned(at(11, 26, 14, 0))
        };
        let err = templates
            .render_wechat(NoticeKind::OutageDetected, &context)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "notice variable cause contains a line break"
        );
    }

    #[test]
    fn link_in_an_sms_variable_is_refused_and_sms_never_sees_the_detail_url() {
        let templates = default_templates();
        let context = NoticeContext {
            cause: Some("详见 https://x.cn".into()),
            ..unplanned(at(11, 26, 14, 0))
        };
        let err = templates
            .render_sms(NoticeKind::OutageDetected, &context)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidVariable {
                    variable: "cause",
                    ..
                }
            ),
            "{err}"
        );
        let dir = folder_with(&[("sms/restored.txt", "详情见{{ detail_url }}")]);
        let message = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("sms/restored.txt") && message.contains("undefined"),
            "{message}"
        );
    }

    #[test]
    fn forbidden_sms_characters_are_reported() {
        let dir = folder_with(&[("sms/restored.txt", "【通知】{{ area }}已恢复供电。")]);
        let message = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("sms/restored.txt") && message.contains("'【'"),
            "{message}"
        );
    }

    #[test]
    fn app_template_that_is_not_json_is_reported() {
        let dir = folder_with(&[("app/restored.json", "{\"area\": {{ area }},}")]);
        let message = Templates::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("app/restored.json") && message.contains("not valid json"),
            "{message}"
        );
    }

    #[test]
    fn app_values_are_json_escaped() {
        let dir = folder_with(&[("app/restored.json", "{\"area\": {{ area }}}")]);
        let templates = Templates::load(dir.path()).unwrap();
        let context = NoticeContext {
            area: "西四路\"北段\"".into(),
            ..unplanned(at(11, 26, 17, 0))
        };
        let app = templates
            .render_app(NoticeKind::Restored, &context)
            .unwrap();
        assert_eq!(app.payload["area"], "西四路\"北段\"");
    }
}
