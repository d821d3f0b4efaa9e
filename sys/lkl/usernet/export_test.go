package usernet

// StopFDs lets the tests close their guest link's stop eventfds too.
var StopFDs = stopFDs
