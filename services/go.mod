module github.com/pathway-sp/pathway/services

go 1.26
