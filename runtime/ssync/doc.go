// Package ssync holds the pieces of the ssync runtime that annotated models and
// generated code share: the [Record] every synchronized row embeds, the [Table]
// descriptor that ssyncgen emits for each model, and the [Registry] of
// collections in foreign-key order.
//
// A model takes part in sync by embedding [Record] with a table tag:
//
//	type Note struct {
//		ssync.Record `ssync:"table=ss_tb_note,order=2"`
//		Message   string `json:"message"`
//		Completed bool   `json:"completed"`
//	}
//
// Running ssyncgen over the package emits one [Table] per model, with
// straight-line code to bind, scan, encode and decode its rows and the
// description of its columns and indexes ([Column], [Kind], [Index]), plus a
// Registry function listing every table in order. The description carries
// no SQL: the device and each server store dialect build their own DDL from
// it at run time, so a new dialect needs no regeneration. The client
// (runtime/client) and the server (runtime/server) work only through those
// descriptors: nothing is looked up by reflection at sync time.
package ssync
