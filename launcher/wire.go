package main

// Back ends are chosen by URI; importing a back end registers its scheme.
import (
	_ "github.com/marketplace/settle/io/cursorstore/firestore"
	_ "github.com/marketplace/settle/io/rawzone/gcs"
	_ "github.com/marketplace/settle/io/warehouse/bigquery"
)
