import Foundation

/// `value`, a number as JSONSerialization gives it, as an Int when it is a non-negative
/// integer: not a boolean (which JSONSerialization also hands over as a number), not a
/// fraction, and below 9e15, where a double still counts every integer exactly.
func nonNegativeJSONInteger(_ value: Any) -> Int? {
    guard let number = value as? NSNumber, !["c", "B"].contains(String(cString: number.objCType)) else { return nil }
    let double = number.doubleValue
    guard double >= 0, double == double.rounded(), double < 9.0e15 else { return nil }
    return number.intValue
}
