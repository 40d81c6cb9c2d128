package ssync

import "testing"

// TestSchemaFingerprint: a registry's fingerprint is SchemaFingerprint of
// its schema, in whatever order the tables come, and any change to a
// column changes it.
func TestSchemaFingerprint(t *testing.T) {
	parent := &Table[struct{}]{Name: "parent", Order: 1, Columns: []Column{{Name: "name", Wire: "name", Kind: KindText}}}
	child := &Table[struct{}]{Name: "child", Order: 2,
		Columns: []Column{{Name: "parent_id", Wire: "parentId", Kind: KindUUID, Nullable: true, Indexed: true, Ref: "parent"}},
		Indexes: []Index{{Name: IndexName("child", "parent_id"), Columns: []string{"parent_id"}}}}
	reg, err := NewRegistry(child, parent)
	if err != nil {
		t.Fatal(err)
	}
	schema := reg.Schema()
	if len(schema) != 2 || schema[0].Name != "parent" || schema[1].Name != "child" {
		t.Fatalf("Schema() = %+v, want parent then child", schema)
	}
	fp := reg.Fingerprint()
	if got := SchemaFingerprint([]TableSchema{schema[1], schema[0]}); got != fp {
		t.Errorf("SchemaFingerprint of the tables in another order = %s, Fingerprint = %s", got, fp)
	}
	changed := schema[1]
	changed.Columns = []Column{{Name: "parent_id", Wire: "parentId", Kind: KindUUID, Indexed: true, Ref: "parent"}}
	if got := SchemaFingerprint([]TableSchema{schema[0], changed}); got == fp {
		t.Error("a column made NOT NULL keeps the fingerprint")
	}
}
