package models

import "github.com/ssync-go/ssync/runtime/ssync"

// Doc has an attachment field: the device indexes the rows holding content
// as docs_file_content.
type Doc struct {
	ssync.Record `ssync:"table=docs,order=1"`

	File *ssync.Attachment `ssync:"attachment"`
}

// DocFile's index of Content takes the same name.
type DocFile struct {
	ssync.Record `ssync:"table=docs_file,order=2"`

	Content string `ssync:"index"`
}

// Long's table name makes the name of its server index longer than
// PostgreSQL and MySQL allow.
type Long struct {
	ssync.Record `ssync:"table=a_table_whose_name_is_long_enough_to_overflow_index_names,order=3"`

	Name string
}
