module github.com/pathway-sp/pathway/projections

go 1.26
