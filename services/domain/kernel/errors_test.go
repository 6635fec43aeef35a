package kernel_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pathway-sp/pathway/services/domain/kernel"
)

var errClosed = kernel.Errorf(kernel.Conflict, "thing: not allowed in this state")

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want kernel.Kind
	}{
		{"nil", nil, kernel.Internal},
		{"a plain error", errors.New("disk full"), kernel.Internal},
		{"a kernel error", kernel.Errorf(kernel.NotFound, "no such thing"), kernel.NotFound},
		{"a sentinel's error, wrapped in context", fmt.Errorf("close thing t1: %w", errClosed.Errorf("it is closed")), kernel.Conflict},
		{"invalid fields", kernel.InvalidFields(kernel.FieldError{Field: "name", Reason: "is required"}), kernel.Invalid},
		{"an error wrapping a plain cause", &kernel.Error{Kind: kernel.Busy, Err: errors.New("raced")}, kernel.Busy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kernel.KindOf(tc.err); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSentinelErrors(t *testing.T) {
	err := fmt.Errorf("close thing t1: %w", errClosed.Errorf("it is %s", "closed"))
	if !errors.Is(err, errClosed) {
		t.Errorf("errors.Is(err, the sentinel): got false, want true")
	}
	if got, want := err.Error(), "close thing t1: thing: not allowed in this state: it is closed"; got != want {
		t.Errorf("text: got %q, want %q", got, want)
	}
	e, _ := errors.AsType[*kernel.Error](err)
	if e.Message != "it is closed" {
		t.Errorf("message: got %q, want the sentinel's detail only", e.Message)
	}
	fields := errClosed.WithFields(kernel.FieldError{Field: "a", Reason: "bad"}, kernel.FieldError{Field: "b", Reason: "worse"})
	if got, want := fields.Error(), "thing: not allowed in this state: a: bad; b: worse"; got != want {
		t.Errorf("fields text: got %q, want %q", got, want)
	}
}
