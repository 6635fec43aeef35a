module github.com/pathway-sp/pathway/services/domain

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/nyaruka/phonenumbers v1.8.1
	github.com/pathway-sp/pathway/proto v0.0.0-00010101000000-000000000000
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/text v0.23.0 // indirect

replace github.com/pathway-sp/pathway/proto => ../../proto
