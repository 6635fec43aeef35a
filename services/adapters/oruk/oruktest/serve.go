package oruktest

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pathway-sp/pathway/events"
	"github.com/pathway-sp/pathway/projections"
	"github.com/pathway-sp/pathway/projections/partners"
	"github.com/pathway-sp/pathway/services/adapters/oruk"
)

// Serve serves the directory of the log on store as Open Referral UK, as
// pathway does, with the two read models it answers from running, until
// the test ends. It returns the server's base URL and the read models.
func Serve(tb testing.TB, store *events.Store, js jetstream.JetStream) (url string, partnersModel, view *projections.Engine) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	obj, err := projections.OpenCheckpoints(ctx, js, 1)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	partnersModel = projections.NewEngine(store, obj, partners.New(), projections.Options{})
	view = projections.NewEngine(store, obj, oruk.NewView(), projections.Options{})
	done := make(chan error, 2)
	go func() { done <- partnersModel.Run(ctx) }()
	go func() { done <- view.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				tb.Errorf("read model: %v", err)
			}
		}
	})
	srv := httptest.NewServer(oruk.New(oruk.Config{Store: store, Partners: partnersModel, Services: view}))
	tb.Cleanup(srv.Close)
	return srv.URL, partnersModel, view
}
