"""Statistics: agreement, reliability, Bradley-Terry, resampling, rater quality."""
