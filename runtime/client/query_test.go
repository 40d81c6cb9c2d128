package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/ssync-go/ssync/example/models"
	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/runtime/client"
)

// openLocal opens a device database with no server, for queries.
func openLocal(t *testing.T, user string, linked ...string) *client.DB {
	t.Helper()
	db, err := client.Open(context.Background(), filepath.Join(t.TempDir(), "device.db"), generated.Registry(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetUser(context.Background(), user, linked...); err != nil {
		t.Fatal(err)
	}
	return db
}

func messages(notes []*models.Note) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = n.Message
	}
	return out
}

func TestTypedQueries(t *testing.T) {
	ctx := context.Background()
	db := openLocal(t, "alice", "bob")
	users := generated.SyncUsers(db)
	notes := generated.SyncNotes(db)
	ann := &models.User{Name: "Ann"}
	if err := users.Insert(ctx, ann); err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{"d", "b", "a", "c", "e"} {
		n := &models.Note{Message: m, Completed: i%2 == 0}
		if m == "b" || m == "c" {
			n.UserID = &ann.ID
		}
		if m == "e" {
			n.SyncID = "bob" // a linked user's row is in scope
		}
		if err := notes.Insert(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, got []*models.Note, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if g := fmt.Sprint(messages(got)); g != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, g, want)
		}
	}
	got, err := notes.ByCompleted(ctx, true)
	check("ByCompleted(true)", got, err, "d", "a", "e")
	got, err = notes.Select(ctx, notes.WhereCompleted(false), notes.OrderBy(generated.NoteColumnMessage, true))
	check("WhereCompleted(false) by message desc", got, err, "c", "b")
	got, err = notes.ByUserID(ctx, &ann.ID, notes.OrderBy(generated.NoteColumnMessage, false))
	check("ByUserID(ann)", got, err, "b", "c")
	got, err = notes.ByUserID(ctx, nil)
	check("ByUserID(nil) matches NULL", got, err, "d", "a", "e")
	got, err = notes.Select(ctx, notes.OrderBy(generated.NoteColumnMessage, false), client.Limit(2), client.Offset(1))
	check("Limit and Offset", got, err, "b", "c")
	got, err = notes.Select(ctx, notes.OrderBy(generated.NoteColumnMessage, false), client.Offset(3))
	check("Offset alone", got, err, "d", "e")
	got, err = notes.Select(ctx, client.Where("message", "a"))
	check("Where on a user column", got, err, "a")

	n, err := notes.Count(ctx, notes.WhereCompleted(true), client.Limit(1))
	if err != nil || n != 3 {
		t.Errorf("Count(WhereCompleted(true)) = %d, %v; want 3 (Limit ignored)", n, err)
	}
	if n, err := users.Count(ctx); err != nil || n != 1 {
		t.Errorf("users.Count = %d, %v", n, err)
	}

	// Deleted rows stay out unless asked for.
	if err := notes.Delete(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := notes.Count(ctx, client.Where("message", "a")); n != 0 {
		t.Errorf("a deleted row is counted")
	}
	if n, _ := notes.Count(ctx, client.Where("message", "a"), client.IncludeDeleted()); n != 1 {
		t.Errorf("IncludeDeleted does not count the deleted row")
	}

	// Another user's rows stay out of every query.
	other := openLocalOn(t, db, "carol")
	if n, err := generated.SyncNotes(other).Count(ctx); err != nil || n != 0 {
		t.Errorf("carol sees %d notes, %v", n, err)
	}
}

// openLocalOn switches db to another user and back when the test ends.
func openLocalOn(t *testing.T, db *client.DB, user string) *client.DB {
	t.Helper()
	prev, linked := db.User()
	if err := db.SetUser(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.SetUser(context.Background(), prev, linked...) })
	return db
}

func TestQueryColumnsAreChecked(t *testing.T) {
	ctx := context.Background()
	notes := generated.SyncNotes(openLocal(t, "alice"))
	for name, opt := range map[string]client.SelectOption{
		"where":   client.Where(`message" OR 1=1 --`, "x"),
		"orderBy": client.OrderBy("secret", false),
	} {
		if _, err := notes.Select(ctx, opt); !errors.Is(err, client.ErrUnknownColumn) {
			t.Errorf("%s: Select error %v, want ErrUnknownColumn", name, err)
		}
		if _, err := notes.Count(ctx, opt); name == "where" && !errors.Is(err, client.ErrUnknownColumn) {
			t.Errorf("%s: Count error %v, want ErrUnknownColumn", name, err)
		}
	}
}

func TestForeignKeyOnDevice(t *testing.T) {
	ctx := context.Background()
	notes := generated.SyncNotes(openLocal(t, "alice"))
	ghost := uuid.New()
	if err := notes.Insert(ctx, &models.Note{Message: "orphan", UserID: &ghost}); err == nil {
		t.Error("a note referencing a user that does not exist was inserted")
	}
}

// The generated repositories have typed filters for indexed and foreign-key
// columns, and column constants for ordering; every query stays within the
// active user's rows.
func ExampleOrderBy() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ssync-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := client.Open(ctx, filepath.Join(dir, "device.db"), generated.Registry(), client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.SetUser(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	notes := generated.SyncNotes(db)
	for _, m := range []string{"water plants", "buy milk", "call bob"} {
		if err := notes.Insert(ctx, &models.Note{Message: m, Completed: m == "call bob"}); err != nil {
			log.Fatal(err)
		}
	}
	open, _ := notes.ByCompleted(ctx, false, notes.OrderBy(generated.NoteColumnMessage, false))
	for _, n := range open {
		fmt.Println("to do:", n.Message)
	}
	done, _ := notes.Count(ctx, notes.WhereCompleted(true))
	fmt.Println("done:", done)
	// Output:
	// to do: buy milk
	// to do: water plants
	// done: 1
}
