// Package projections will hold the projection engine (checkpoints,
// rebuild, read-your-writes, as-of reads) and the read models built from
// the event log: waitlists, caseloads, referral timelines, the funnel.
// It reads the log through events.Store.Read and events.Store.Subscribe.
package projections
