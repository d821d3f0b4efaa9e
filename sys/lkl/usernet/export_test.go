package usernet

// Teardown lets the tests stop their guest netstack the way a Network
// stops its own (NIC id 1, as the guest's).
var Teardown = teardown
