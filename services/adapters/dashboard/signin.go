package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pathway-sp/pathway/services/keys"
)

// signinData is what the sign-in page shows.
type signinData struct {
	CSRF    string
	Next    string
	Error   string
	Message string
}

// localPath returns next when it is a path on this site, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

// signinForm serves GET /signin: the form, with a single-use CSRF token
// bound to the browser's sign-in cookie.
func (h *handler) signinForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if _, err := h.session(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d := signinData{Next: next}
	if r.URL.Query().Get("signed_out") == "1" {
		d.Message = "You are signed out."
	}
	h.renderSignin(w, r, http.StatusOK, d)
}

// renderSignin renders the form with a new sign-in nonce.
func (h *handler) renderSignin(w http.ResponseWriter, r *http.Request, status int, d signinData) {
	// One nonce per browser, kept while it is there: a second sign-in
	// page (another tab) must not void the token of the first.
	nonce := ""
	if c, err := r.Cookie(signinCookie); err == nil && len(c.Value) == 24 {
		nonce = c.Value
	} else {
		nonce = randomToken()
	}
	h.setCookie(w, r, signinCookie, nonce, h.cfg.Now().Add(formTTL))
	d.CSRF = h.signinToken(nonce)
	var buf bytes.Buffer
	if err := h.signin.ExecuteTemplate(&buf, "signin", d); err != nil {
		h.log.Error("render sign-in page", "err", err)
		http.Error(w, "cannot render this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// signinSubmit serves POST /signin: an ops, admin or (with the
// workspace) link worker key becomes a session.
func (h *handler) signinSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	next := localPath(r.PostFormValue("next"))
	token := strings.TrimSpace(r.PostFormValue("key"))
	client, keyID := h.cfg.Proxies.Client(r), keys.IDOf(token)
	if wait, ok := h.cfg.Throttle.Check(client, keyID); !ok {
		secs := int(wait.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.renderSignin(w, r, http.StatusTooManyRequests, signinData{Next: next,
			Error: fmt.Sprintf("Too many failed sign-ins from this address or for this key. Please wait %d seconds and try again.", secs)})
		return
	}
	nonce := ""
	if c, err := r.Cookie(signinCookie); err == nil {
		nonce = c.Value
	}
	switch err := h.spendSigninToken(r, nonce); {
	case errors.Is(err, ErrFormUsed):
		h.renderSignin(w, r, http.StatusForbidden, signinData{Next: next,
			Error: "This sign-in form was already used. Please enter the key again."})
		return
	case errors.Is(err, errBadForm):
		h.renderSignin(w, r, http.StatusForbidden, signinData{Next: next,
			Error: "This sign-in form has expired or did not come from this page. Please try again."})
		return
	case err != nil:
		h.log.Error("dashboard sign-in form check failed", "err", err)
		http.Error(w, "cannot check the sign-in form right now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	k, err := h.cfg.Keys.Authenticate(token)
	if err != nil {
		h.cfg.Throttle.Fail(client, keyID)
		h.log.Warn("dashboard sign-in failed", "client", client.String(), "key_id", keyID, "reason", "not a valid API key, or revoked")
		h.renderSignin(w, r, http.StatusUnauthorized, signinData{Next: next, Error: "That is not a valid API key, or it has been revoked."})
		return
	}
	if !h.allowed(k.Role) {
		h.log.Info("dashboard sign-in refused", "client", client.String(), "key_id", k.ID, "role", string(k.Role))
		who := "Only ops and admin keys"
		if h.cfg.Workspace != nil {
			who = "Only ops, admin and link worker keys"
		}
		if h.cfg.Triage != nil {
			who = strings.Replace(strings.Replace(who, " and ", ", ", 1), " keys", " and triage keys", 1)
		}
		h.renderSignin(w, r, http.StatusForbidden, signinData{Next: next,
			Error: who + " can sign in to the dashboard; this is a " + string(k.Role) + " key."})
		return
	}
	expires := h.cfg.Now().Add(h.cfg.SessionTTL)
	h.setCookie(w, r, sessionCookie, h.sessionValue(k.ID, expires), expires)
	h.setCookie(w, r, signinCookie, "", time.Time{})
	h.log.Info("dashboard sign-in", "client", client.String(), "key_id", k.ID, "role", string(k.Role))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout serves POST /signout: it clears the session cookie.
func (h *handler) signout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	s, err := h.session(r)
	if errors.Is(err, errNoSession) {
		h.setCookie(w, r, sessionCookie, "", time.Time{})
		http.Redirect(w, r, "/signin?signed_out=1", http.StatusSeeOther)
		return
	}
	if err != nil {
		h.toSignin(w, r, err)
		return
	}
	if !h.validCSRF(r, "session", s.value) {
		http.Error(w, "this form did not come from the dashboard (missing or wrong CSRF token); go back, reload and try again", http.StatusForbidden)
		return
	}
	h.setCookie(w, r, sessionCookie, "", time.Time{})
	h.log.Info("dashboard sign-out", "key_id", s.key.ID)
	http.Redirect(w, r, "/signin?signed_out=1", http.StatusSeeOther)
}
