-- capmail schema, version 12: a recipient's own question on the
-- verification page (store/questions.c, capmailctl user question,
-- capmail-verify(8)). A sender confirming a challenge to that recipient
-- must also give one of the accepted answers. The answers are kept as
-- store_answer_normalize() makes them (trimmed, inner white space one
-- space, ASCII lower case), so the comparison is plain equality; they
-- never leave the database (the check is "= ANY" in SQL).
-- Both NULL: no question.
ALTER TABLE principals ADD COLUMN verify_question text
    CHECK (verify_question <> '');
ALTER TABLE principals ADD COLUMN verify_answers text[]
    CHECK (cardinality(verify_answers) >= 1
           AND array_position(verify_answers, '') IS NULL
           AND array_position(verify_answers, NULL) IS NULL);
ALTER TABLE principals ADD CONSTRAINT principals_verify_question_pair
    CHECK ((verify_question IS NULL) = (verify_answers IS NULL));
