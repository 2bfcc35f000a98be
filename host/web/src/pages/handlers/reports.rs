//! Reports: delivered messages and parts per month (billing counts delivered only, from
//! delivery reports), per department / API key and per carrier, and the same rows as CSV.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::MonthlyRow;

use super::chrome;
use crate::AppState;
use crate::pages::session::Session;
use crate::pages::{Chrome, PageError, render};

/// A total over some grouping.
pub(crate) struct Total {
    label: String,
    messages: u64,
    parts: u64,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    c: Chrome,
    month: String,
    months: Vec<String>,
    by_month: Vec<Total>,
    by_key: Vec<Total>,
    by_carrier: Vec<Total>,
    rows: Vec<MonthlyRow>,
}

/// Query: one month or all.
#[derive(Deserialize)]
pub(crate) struct MonthQuery {
    #[serde(default)]
    month: String,
}

fn month_filter(m: &str) -> Option<String> {
    let ok = m.len() == 7 && m.as_bytes().get(4) == Some(&b'-');
    ok.then(|| m.to_owned())
}

fn key_label(r: &MonthlyRow, none: &str) -> String {
    match (&r.key_name, r.api_key) {
        (Some(n), _) => n.clone(),
        (None, 0) => none.to_owned(),
        (None, id) => format!("#{id}"),
    }
}

fn totals(rows: &[MonthlyRow], label: impl Fn(&MonthlyRow) -> String) -> Vec<Total> {
    let mut m: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in rows {
        let e = m.entry(label(r)).or_default();
        e.0 += r.delivered_messages;
        e.1 += r.delivered_parts;
    }
    m.into_iter()
        .map(|(label, (messages, parts))| Total {
            label,
            messages,
            parts,
        })
        .collect()
}

/// `GET /reports`.
pub(crate) async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<MonthQuery>,
) -> Result<Response, PageError> {
    let (c, _) = chrome(&state, &s, "reports", &uri).await?;
    let month = month_filter(&q.month);
    let rows = state.engine.store().monthly_report(month.clone()).await?;
    let none = c.t("reports.no_key");
    let mut by_month = totals(&rows, |r| r.month.clone());
    by_month.reverse();
    let by_key = totals(&rows, |r| key_label(r, none));
    let by_carrier = totals(&rows, |r| r.carrier.clone());
    render(&ReportsPage {
        months: state.engine.store().billing_months().await?,
        month: month.unwrap_or_default(),
        by_month,
        by_key,
        by_carrier,
        rows,
        c,
    })
}

/// One CSV field: quoted when needed, and a leading `= + - @` neutralised so a spreadsheet
/// does not run a department name as a formula.
fn csv_field(s: &str) -> String {
    let mut v = s.to_owned();
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        v.insert(0, '\'');
    }
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The report rows as CSV (UTF-8 with a BOM so spreadsheet programs read Chinese names).
pub(crate) fn to_csv(rows: &[MonthlyRow]) -> String {
    let mut out = String::from(
        "\u{feff}month,api_key_id,department,carrier,delivered_messages,delivered_parts\r\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            csv_field(&r.month),
            r.api_key,
            csv_field(r.key_name.as_deref().unwrap_or("")),
            csv_field(&r.carrier),
            r.delivered_messages,
            r.delivered_parts
        ));
    }
    out
}

/// `GET /reports.csv`.
pub(crate) async fn csv(
    State(state): State<AppState>,
    _s: Session,
    Query(q): Query<MonthQuery>,
) -> Result<Response, PageError> {
    let month = month_filter(&q.month);
    let rows = state.engine.store().monthly_report(month.clone()).await?;
    let name = format!(
        "outpost-delivered-{}.csv",
        month.as_deref().unwrap_or("all")
    );
    let mut r = to_csv(&rows).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_quoted_and_defused() {
        let rows = vec![MonthlyRow {
            month: "2026-11".into(),
            api_key: 3,
            key_name: Some("=HYPERLINK(\"x\"),财务".into()),
            carrier: "smpp-a".into(),
            delivered_messages: 2,
            delivered_parts: 5,
        }];
        assert_eq!(
            to_csv(&rows),
            "\u{feff}month,api_key_id,department,carrier,delivered_messages,delivered_parts\r\n\
             2026-11,3,\"'=HYPERLINK(\"\"x\"\"),财务\",smpp-a,2,5\r\n"
        );
        assert_eq!(month_filter("2026-11"), Some("2026-11".into()));
        assert_eq!(month_filter("x"), None);
    }
}
