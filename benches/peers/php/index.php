<?php
// The PHP peer of pivotforge's rule flow `main_number_tod`, as the PBX guide's examples are
// written: php-fpm behind nginx, Kazoo's query in $_GET, the JSON tree echoed back. No
// validation, no logging. benches/load.sh generates the nginx and php-fpm configs.
require __DIR__ . '/tod.php';

$callId = $_GET['Call-ID'] ?? null; // parsed as a user's script would, though unused here
header('Content-Type: application/json');
echo json_encode(tod_answer(new DateTimeImmutable()));
