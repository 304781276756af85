// Runs before the body renders (a classic, blocking script): GOV.UK Frontend's styles for pages
// with JavaScript, without a flash of the no-JavaScript layout. A file of its own, not inline,
// so the app's Content-Security-Policy allows scripts from this origin only.
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
