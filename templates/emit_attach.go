package templates

import "github.com/dave/jennifer/jen"

// emitAttachments writes, for a model with attachment fields, the function
// the descriptor lists them with and the repository's Attach and Open
// methods (AttachXxx and OpenXxx when there are several).
func emitAttachments(f *jen.File, t *Table) {
	if t.AttachmentsFunc == "" {
		return
	}
	model := modelType(t)
	attachment := jen.Qual(PathSsync, "Attachment")
	var list []jen.Code
	for _, fld := range t.Fields {
		if fld.Attachment {
			list = append(list, attachmentOf(fld, "r"))
		}
	}
	f.Line()
	f.Func().Id(t.AttachmentsFunc).Params(jen.Id("r").Op("*").Add(model.Clone())).Index().Op("*").Add(attachment.Clone()).Block(
		jen.Return(jen.Index().Op("*").Add(attachment.Clone()).Values(list...)),
	)
	for _, fld := range t.Fields {
		if !fld.Attachment {
			continue
		}
		set := accessFrom("row", fld.Path).Op("=").Id("a")
		if fld.Repr == ReprValue {
			set = accessFrom("row", fld.Path).Op("=").Op("*").Id("a")
		}
		f.Line()
		f.Commentf("%s stores the content read from src as the attachment %s of the %s row with", fld.Attach, pathString(fld.Path), qualName(t))
		f.Comment("id rowID, in the folder beside the database (identical content is stored once),")
		f.Comment("and updates the row; the next Synchronize uploads the content before it pushes the")
		f.Comment("row. name and contentType are informational; an empty contentType is guessed.")
		f.Func().Params(jen.Id("r").Id(t.RepoType)).Id(fld.Attach).Params(
			jen.Id("ctx").Qual("context", "Context"),
			jen.Id("rowID").Qual(PathUUID, "UUID"),
			jen.Id("src").Qual("io", "Reader"),
			jen.List(jen.Id("name"), jen.Id("contentType")).String(),
		).Error().Block(
			jen.Return(jen.Id("r").Dot("AttachWith").Call(
				jen.Id("ctx"), jen.Id("rowID"), jen.Id("src"), jen.Id("name"), jen.Id("contentType"),
				jen.Func().Params(jen.Id("row").Op("*").Add(model.Clone()), jen.Id("a").Op("*").Add(attachment.Clone())).Block(set),
			)),
		)
		f.Line()
		f.Commentf("%s returns the content of the attachment %s of the %s row with id rowID,", fld.Open, pathString(fld.Path), qualName(t))
		f.Comment("verified against its hash, and the attachment. Content not on the device yet is")
		f.Comment("downloaded from the server of the last Synchronize (or SetRemote). It returns")
		f.Comment("client.ErrNoAttachment when the row has none. Close the reader when done.")
		f.Func().Params(jen.Id("r").Id(t.RepoType)).Id(fld.Open).Params(
			jen.Id("ctx").Qual("context", "Context"),
			jen.Id("rowID").Qual(PathUUID, "UUID"),
		).Params(jen.Qual("io", "ReadCloser"), jen.Op("*").Add(attachment.Clone()), jen.Error()).Block(
			jen.Return(jen.Id("r").Dot("OpenWith").Call(
				jen.Id("ctx"), jen.Id("rowID"),
				jen.Func().Params(jen.Id("row").Op("*").Add(model.Clone())).Op("*").Add(attachment.Clone()).Block(
					jen.Return(attachmentOf(fld, "row")),
				),
			)),
		)
	}
}

// descriptorTail ends the descriptor's fields: the Attachments function
// when the model has attachment fields.
func descriptorTail(t *Table) jen.Code {
	if t.AttachmentsFunc == "" {
		return jen.Line()
	}
	return jen.Line().Id("Attachments").Op(":").Id(t.AttachmentsFunc).Op(",").Line()
}

// attachmentOf reads the attachment field of row as a *ssync.Attachment,
// nil when there is none.
func attachmentOf(fld *Field, row string) jen.Code {
	if fld.Repr == ReprValue {
		return accessFrom(row, fld.Path).Dot("OrNil").Call()
	}
	return accessFrom(row, fld.Path)
}
