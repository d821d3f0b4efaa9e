package usernet

// StopFDs lets the tests close their guest link's stop eventfds too.
var StopFDs = stopFDs

// StopLink lets the tests stop their guest link the same way.
var StopLink = stopLink
