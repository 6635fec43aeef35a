package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"
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

// signinForm serves GET /signin: the form, with a CSRF token bound to a
// fresh sign-in cookie.
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
	setCookie(w, r, signinCookie, nonce, h.cfg.Now().Add(time.Hour))
	d.CSRF = h.csrfToken("signin", nonce)
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

// signinSubmit serves POST /signin: an ops or admin key becomes a session.
func (h *handler) signinSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	next := localPath(r.PostFormValue("next"))
	nonce := ""
	if c, err := r.Cookie(signinCookie); err == nil {
		nonce = c.Value
	}
	if !h.validCSRF(r, "signin", nonce) {
		h.renderSignin(w, r, http.StatusForbidden, signinData{Next: next,
			Error: "This sign-in form has expired or did not come from this page. Please try again."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("key"))
	k, err := h.cfg.Keys.Authenticate(token)
	if err != nil {
		h.renderSignin(w, r, http.StatusUnauthorized, signinData{Next: next, Error: "That is not a valid API key, or it has been revoked."})
		return
	}
	if !allowed(k.Role) {
		h.renderSignin(w, r, http.StatusForbidden, signinData{Next: next,
			Error: "Only ops and admin keys can sign in to the dashboard; this is a " + string(k.Role) + " key."})
		return
	}
	expires := h.cfg.Now().Add(h.cfg.SessionTTL)
	setCookie(w, r, sessionCookie, h.sessionValue(k.ID, expires), expires)
	setCookie(w, r, signinCookie, "", time.Time{})
	h.log.Info("dashboard sign-in", "key_id", k.ID, "role", string(k.Role))
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
		setCookie(w, r, sessionCookie, "", time.Time{})
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
	setCookie(w, r, sessionCookie, "", time.Time{})
	h.log.Info("dashboard sign-out", "key_id", s.key.ID)
	http.Redirect(w, r, "/signin?signed_out=1", http.StatusSeeOther)
}
