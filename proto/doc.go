// Package proto holds the protobuf schema of pathway's events (package
// pathway.v1, generated into ./pathway/v1) and the command that regenerates
// it. Run `go generate ./proto/...` from the repository root after editing a
// .proto file; the tests fail while the generated code is out of date.
package proto

//go:generate env GOWORK=off go tool -modfile=tools/go.mod buf generate
