package httpapi

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/pathway-sp/pathway/services/adapters/fhir"
)

// Under /fhir/ every answer is FHIR: the edge's own answers (no key, a
// bad key, too many failures, a role that may not, an unknown path, a
// wrong method, an Accept it cannot meet, starting) are OperationOutcomes
// there and problem+json elsewhere. writeEdge and writeError are where
// that is decided, on the path, once.

// fhirPrefix is the path of the FHIR front door.
const fhirPrefix = "/fhir/"

// isFHIR reports whether r is to the FHIR front door.
func isFHIR(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, fhirPrefix) }

// writeEdge answers with p: under /fhir/ as an OperationOutcome with the
// same status and the issue code of the status, elsewhere as p.
func writeEdge(w http.ResponseWriter, r *http.Request, p Problem) {
	if !isFHIR(r) {
		WriteProblem(w, p)
		return
	}
	writeOutcome(w, p.Status, []fhir.Issue{{Severity: "error", Code: fhir.IssueCodeOfStatus(p.Status), Diagnostics: p.Detail}})
}

// probeMethods are the methods a wrong-method answer looks for.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods lists the methods mux serves r's path with, other than
// by its fallback pattern "/".
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// notServed answers a request the mux has no route for: 405 with Allow
// when the path is served with other methods, else 404 (as a problem, or
// under /fhir/ an OperationOutcome).
func notServed(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	if allow := allowedMethods(mux, r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeEdge(w, r, Problem{Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: r.Method + " is not supported on " + r.URL.Path + "; it supports " + strings.Join(allow, ", ")})
		return
	}
	writeEdge(w, r, Problem{Title: "Not found", Status: http.StatusNotFound, Detail: "no such endpoint: " + r.Method + " " + r.URL.Path})
}

// fhirAccept wraps a FHIR endpoint: 406 unless the caller accepts FHIR
// JSON, the only format served (Accept, or the _format parameter, which
// FHIR lets override it).
func fhirAccept(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !acceptsFHIRJSON(r) {
			writeEdge(w, r, Problem{Title: "Not acceptable", Status: http.StatusNotAcceptable,
				Detail: "pathway answers only in " + fhirType + " (or " + jsonType + "); send Accept or _format for one of them"})
			return
		}
		h(w, r)
	}
}

// fhirJSONTypes are the media types, and the _format values, of FHIR
// JSON.
var fhirJSONTypes = map[string]bool{fhirType: true, jsonType: true, "application/json+fhir": true, "json": true,
	"*/*": true, "application/*": true}

func acceptsFHIRJSON(r *http.Request) bool {
	if f := r.URL.Query().Get("_format"); f != "" {
		mt, _, _ := strings.Cut(strings.ToLower(f), ";")
		mt = strings.TrimSpace(mt)
		return fhirJSONTypes[mt] && mt != "*/*" && mt != "application/*"
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return true
	}
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || refuses(params["q"]) {
				continue
			}
			if fhirJSONTypes[mt] {
				return true
			}
		}
	}
	return false
}

// refuses reports whether an Accept entry's q parameter refuses its type
// (q=0).
func refuses(q string) bool {
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}

// fhirMetadata handles GET /fhir/r4/metadata: the CapabilityStatement.
// It needs no key, as FHIR servers serve it: a client reads it to learn
// what the server supports and how to authenticate before it has a key
// working, and it says nothing of any referral or person.
func (a *api) fhirMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", fhir.ContentType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(fhir.CapabilityStatement(a.version))
}
