package client

// TableDDL exports tableDDL to the tests of package client_test.
var TableDDL = tableDDL

// Quote exports quote to the tests of package client_test.
var Quote = quote
