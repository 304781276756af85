//! The harness's HTTP client (`reqwest`): JSON requests with a bearer credential, raw requests
//! that keep every header, and visitors who keep their cookies and sign in through the pages.

use crate::{admin, Server};
use anyhow::{bail, Context};

/// The harness's HTTP client: redirects are not followed (tests look at them) and bodies are
/// not decompressed. A new one per request: each test runs its own tokio runtime, and a pooled
/// connection must not outlive the runtime that opened it.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build()?)
}

/// A GET with an optional bearer credential: (status, the body as JSON, or as a JSON string
/// when it is not JSON).
pub async fn http_get(url: &str, token: Option<&str>) -> anyhow::Result<(u16, serde_json::Value)> {
    http(url, reqwest::Method::GET, token, None).await
}

/// A JSON POST, as [`http_get`].
pub async fn http_post(
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    http(url, reqwest::Method::POST, token, Some(body)).await
}

async fn http(
    url: &str,
    method: reqwest::Method,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut req = client()?.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_string());
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let body = r.text().await?;
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
    Ok((status, json))
}

/// A response as sent: status, headers (names in lower case) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k == "set-cookie").map(|(_, v)| v.as_str()).collect()
    }

    /// The value a `Set-Cookie` gives `name`, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    }

    /// The value of the first `<input name="…" value="…">` with this name.
    pub fn form_value(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&needle)? + needle.len();
        Some(self.body[start..].split('"').next()?.to_owned())
    }
}

/// Any request: `headers` are sent as given, `form` as `application/x-www-form-urlencoded`.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> anyhow::Result<Reply> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mut req = client()?.request(reqwest::Method::from_bytes(method.as_bytes())?, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(f) = form {
        let body = f.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        req = req.header("Content-Type", "application/x-www-form-urlencoded").body(body);
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = r.text().await?;
    Ok(Reply { status, headers, body })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A browser-like visitor of the web pages: keeps its cookies.
#[derive(Clone, Default)]
pub struct Visitor {
    pub cookies: Vec<(String, String)>,
}

impl Visitor {
    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, r: &Reply) {
        for c in r.set_cookies() {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let Some((k, v)) = pair.split_once('=') else { continue };
            self.cookies.retain(|(n, _)| n != k.trim());
            if !attrs.to_ascii_lowercase().contains("max-age=0") && !v.trim().is_empty() {
                self.cookies.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }

    pub async fn get(&mut self, base: &str, path: &str) -> anyhow::Result<Reply> {
        let cookie = self.cookie_header();
        let r = request(base, "GET", path, &[("Cookie", &cookie)], None).await?;
        self.keep(&r);
        Ok(r)
    }

    pub async fn post(&mut self, base: &str, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Reply> {
        let cookie = self.cookie_header();
        let r = request(base, "POST", path, &[("Cookie", &cookie)], Some(form)).await?;
        self.keep(&r);
        Ok(r)
    }

    /// Sets a password with a one-time code, then signs in; returns the session's CSRF token.
    pub async fn set_password_and_sign_in(
        &mut self,
        base: &str,
        email: &str,
        code: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let page = self.get(base, &format!("/set-password?code={code}")).await?;
        let csrf = page.form_value("csrf").context("set-password form")?;
        let r = self
            .post(
                base,
                "/set-password",
                &[("csrf", &csrf), ("code", code), ("password", password), ("confirm", password)],
            )
            .await?;
        if r.status != 303 {
            bail!("set-password answered {}: {}", r.status, r.body);
        }
        self.sign_in(base, email, password).await
    }

    pub async fn sign_in(&mut self, base: &str, email: &str, password: &str) -> anyhow::Result<String> {
        let page = self.get(base, "/sign-in").await?;
        let csrf = page.form_value("csrf").context("sign-in form")?;
        let r = self.post(base, "/sign-in", &[("csrf", &csrf), ("email", email), ("password", password)]).await?;
        if r.status != 303 {
            bail!("sign-in answered {}: {}", r.status, r.body);
        }
        let home = self.get(base, "/manage").await?;
        let home = if home.status == 303 {
            let to = home.header("location").context("redirect")?.to_owned();
            self.get(base, &to).await?
        } else {
            home
        };
        home.form_value("csrf").context("signed-in page has a CSRF token")
    }
}

/// A signed-in person of the web pages: cookies and the session's CSRF token.
#[derive(Clone)]
pub struct Signed {
    pub v: Visitor,
    pub csrf: String,
}

impl Signed {
    /// Creates an account with `signpost admin create-user`, sets its password through the
    /// set-password page and signs in.
    pub async fn create(server: &Server, role: &str, scheme: Option<&str>, email: &str) -> anyhow::Result<Signed> {
        let mut args = vec!["create-user", "--role", role];
        if let Some(s) = scheme {
            args.extend(["--scheme", s]);
        }
        args.push(email);
        let code = admin(&server.data, &args)?;
        let mut v = Visitor::default();
        let csrf = v.set_password_and_sign_in(&server.url, email, &code, "a long enough password").await?;
        Ok(Signed { v, csrf })
    }

    /// Creates a one-time enrolment code for a site (the coordinator's button).
    pub async fn enrolment_code(&mut self, server: &Server, scheme: &str, site: &str) -> anyhow::Result<String> {
        let path = format!("/manage/schemes/{scheme}/sites/{site}/enrolment-code");
        let r = self.v.post(&server.url, &path, &[("csrf", &self.csrf)]).await?;
        if r.status != 200 {
            bail!("creating an enrolment code answered {}: {}", r.status, r.body);
        }
        let marker = "id=\"enrolment-code\">";
        let start = r.body.find(marker).context("the code on the page")? + marker.len();
        Ok(r.body[start..start + 9].to_owned())
    }

    /// A tablet credential for a site, obtained the way tablets get one: a code, then
    /// `POST /api/v1/enrol`.
    pub async fn enrol_tablet(&mut self, server: &Server, scheme: &str, site: &str) -> anyhow::Result<String> {
        let code = self.enrolment_code(server, scheme, site).await?;
        let (status, body) = enrol(server, &code).await?;
        if status != 201 {
            bail!("enrolment answered {status}: {body}");
        }
        Ok(body["token"].as_str().context("token")?.to_owned())
    }
}

/// `POST /api/v1/enrol` with a code.
pub async fn enrol(server: &Server, code: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    server.post("/api/v1/enrol", None, serde_json::json!({ "code": code, "name": "Test tablet" })).await
}

/// A CSV download's records, read by a real CSV reader (fields unquoted, rows of any length).
pub fn csv_records(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}
