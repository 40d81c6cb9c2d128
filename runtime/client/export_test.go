package client

// TableDDL exports tableDDL to the tests of package client_test.
var TableDDL = tableDDL
