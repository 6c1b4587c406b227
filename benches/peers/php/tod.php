<?php
// The time-of-day answer of pivotforge's rule flow `main_number_tod`
// (callflows/main_number_tod.toml), written as a PHP user would: office hours Mon-Fri
// 09:00-17:00 New York time ring the front desk, with voicemail behind it; holidays and any
// other time go to voicemail. Shared by index.php and the harness's check (php tod.php INSTANT).

const FRONT_DESK = '3f1c5b7a9d2e4f608a1b2c3d4e5f6a7b';
const MAILBOX = '9a8b7c6d5e4f30211a2b3c4d5e6f7a8b';
// Holidays by month-day: the closed part of the day in minutes, [from, to), or null for all day.
const HOLIDAYS = ['12-24' => [720, 1440], '12-25' => null, '01-01' => null];
const OPENS = 540;
const CLOSES = 1020;

function voicemail(): array
{
    return ['module' => 'voicemail', 'data' => ['id' => MAILBOX]];
}

/** The reply tree for the instant $now. */
function tod_answer(DateTimeImmutable $now): array
{
    $local = $now->setTimezone(new DateTimeZone('America/New_York'));
    $minute = (int) $local->format('G') * 60 + (int) $local->format('i');
    $day = $local->format('m-d');
    if (array_key_exists($day, HOLIDAYS)) {
        $closed = HOLIDAYS[$day];
        if ($closed === null || ($minute >= $closed[0] && $minute < $closed[1])) {
            return voicemail();
        }
    }
    $weekday = (int) $local->format('N'); // 1 = Monday … 7 = Sunday
    if ($weekday <= 5 && $minute >= OPENS && $minute < CLOSES) {
        return [
            'module' => 'device',
            'data' => ['id' => FRONT_DESK, 'timeout' => 20],
            'children' => ['_' => voicemail()],
        ];
    }
    return voicemail();
}

if (PHP_SAPI === 'cli' && isset($argv[1]) && realpath($argv[0]) === __FILE__) {
    echo json_encode(tod_answer(new DateTimeImmutable($argv[1]))), "\n";
}
